"""events/?op=query: MAAS's event log paging (newest first, before/after an event id)."""
from urllib.parse import urlencode

from django.db.models import Q

from maasapi.errors import BadRequest
from maasapi.framework import Handler, operation
from nodes.choices import EventLevel
from nodes.models.hardware import normalise_mac
from nodes.selectors import events_visible_to

LEVELS = {"AUDIT": EventLevel.AUDIT, "DEBUG": EventLevel.DEBUG, "INFO": EventLevel.INFO,
          "WARNING": EventLevel.WARNING, "ERROR": EventLevel.ERROR, "CRITICAL": 50}
LEVEL_NAMES = dict(EventLevel.choices)
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
FILTER_PARAMS = ("hostname", "mac_address", "id", "zone", "agent_name", "level", "owner")


class EventsHandler(Handler):
    """Retrieve filtered node events."""

    name = "EventsHandler"
    path = "events/"

    @operation(idempotent=True)
    def query(self, request, params):
        """Events, newest first, of machines you can see.

        :param hostname: Only events of machines with this hostname (repeatable).
        :type hostname: String
        :param mac_address: Only events of machines with this MAC (repeatable).
        :type mac_address: String
        :param id: Only events of machines with this system id (repeatable).
        :type id: String
        :param zone: Only events of machines in this zone.
        :type zone: String
        :param level: Minimum level: AUDIT, DEBUG, INFO (default), WARNING, ERROR, CRITICAL.
        :type level: String
        :param limit: At most this many events (default 100, at most 1000).
        :type limit: Int
        :param before: Only events older than this event id.
        :type before: Int
        :param after: Only events newer than this event id.
        :type after: Int
        :param owner: Only events of machines owned by this user.
        :type owner: String
        """
        events = _filtered(events_visible_to(request.user), params)
        limit = min(max(params.integer("limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        before, after = params.integer("before"), params.integer("after")
        if before is not None:
            events = events.filter(id__lt=before)
        if after is not None:
            page = list(events.filter(id__gt=after).order_by("id")[:limit])[::-1]
        else:
            page = list(events.order_by("-id")[:limit])
        return {"count": len(page), "events": [_event(event) for event in page],
                "next_uri": _uri(request, params, before=page[-1].id if page else before),
                "prev_uri": _uri(request, params, after=page[0].id if page else after)}


def _filtered(events, params):
    level = params.text("level", "INFO").upper()
    if level not in LEVELS:
        raise BadRequest.fields({"level": [f"Choose one of {', '.join(LEVELS)}."]})
    events = events.filter(level__gte=LEVELS[level]).select_related("machine", "user")
    if params.list("hostname"):
        events = events.filter(Q(machine__hostname__in=params.list("hostname"))
                               | Q(hostname__in=params.list("hostname")))
    if params.list("id"):
        events = events.filter(machine__system_id__in=params.list("id"))
    if params.list("mac_address"):
        macs = [normalise_mac(mac) for mac in params.list("mac_address")]
        events = events.filter(machine__interfaces__mac_address__in=macs).distinct()
    if params.list("zone"):
        events = events.filter(machine__zone__name__in=params.list("zone"))
    if params.text("owner"):
        events = events.filter(machine__owner__username=params.text("owner"))
    return events


def _event(event) -> dict:
    """An event as MAAS shows it (libmaas parses this date format)."""
    return {"id": event.id, "node": event.machine.system_id if event.machine else None,
            "hostname": event.machine.hostname if event.machine else event.hostname,
            "username": event.user.username if event.user else None,
            "level": LEVEL_NAMES.get(event.level, "CRITICAL"),
            "created": event.created.strftime("%a, %d %b. %Y %H:%M:%S"),
            "type": event.type, "description": event.description}


def _uri(request, params, **page) -> str:
    """This query again for the page before or after the one returned."""
    query = [(name, value) for name in FILTER_PARAMS + ("limit",)
             for value in params.data.getlist(name)]
    query += [(name, value) for name, value in page.items() if value is not None]
    return f"{request.path}?op=query&{urlencode(query)}"
