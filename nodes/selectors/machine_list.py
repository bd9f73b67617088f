"""Reads of the console's machine list: filters and search, a page's details, the live rows.

Every read here is a fixed number of queries whatever the number of machines: the page's
machines come from one query, their addresses, storage, tags and status messages from one
query each over the page's ids, and the filter choices from one query per list.
"""
import ipaddress
import re
from collections import defaultdict
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Sum

from maasproject.permissions import is_admin
from nodes.choices import BootResourceKind, EventLevel, InterfaceType
from nodes.lifecycle import STATUS_GROUPS
from nodes.models import BlockDevice, BootResource, Event, Interface, Machine, Tag
from nodes.models.hardware import normalise_mac
from nodes.selectors import machines_visible_to
from zones.models import RackController, ResourcePool, StaticIPAddress, Zone

# The status filter's choices, in the order the page offers them.
STATUS_GROUP_LABELS = {"failed": "Failed", "progress": "In progress", "ready": "Ready",
                       "deployed": "Deployed"}
# The GET parameters that filter the list (kept in the pager's links).
FILTER_PARAMS = ("q", "status", "zone", "pool", "tag", "owner", "rack")
# A partial MAC: hex digits with at least one separator ("52:54:00", "00:0a").
_PARTIAL_MAC = re.compile(r"^[0-9a-f]{1,2}([:-][0-9a-f]{0,2})+$")
_PARTIAL_IPV4 = re.compile(r"^\d{1,3}(\.\d{0,3}){1,3}$")


def machine_list_filtered(user, params: Mapping[str, str]) -> QuerySet[Machine]:
    """The machines `user` may see that match the list's filters and search, by hostname.

    Unknown filter values match nothing (a stale link shows an empty list, not everything).
    """
    machines = machines_visible_to(user)
    group = params.get("status", "")
    if group:
        machines = machines.filter(status__in=STATUS_GROUPS.get(group, ()))
    for param, lookup in (("zone", "zone__name"), ("pool", "pool__name"),
                          ("owner", "owner__username")):
        if params.get(param):
            machines = machines.filter(**{lookup: params[param]})
    if params.get("tag"):
        tagged = Machine.tags.through.objects.filter(tag__name=params["tag"])
        machines = machines.filter(pk__in=tagged.values("machine_id"))
    if params.get("rack"):
        machines = machines.filter(pk__in=boot_rack_machine_ids(params["rack"]))
    query = params.get("q", "").strip()
    if query:
        machines = machines.filter(search_condition(query))
    return machines.order_by("hostname")


def boot_rack_machine_ids(rack_name: str) -> QuerySet:
    """Ids of the machines whose boot interface's VLAN has this rack as its primary rack.

    The boot interface is the machine's first physical interface (nodes.services.inventory
    .boot_interface): an anti-join rather than a per-machine subquery, so the planner can
    hash it at 10,000 machines.
    """
    earlier = Interface.objects.filter(machine_id=OuterRef("machine_id"),
                                       type=InterfaceType.PHYSICAL, id__lt=OuterRef("id"))
    return Interface.objects.filter(
        type=InterfaceType.PHYSICAL, vlan__primary_rack__name=rack_name,
    ).exclude(Exists(earlier)).values("machine_id")


def search_condition(query: str) -> Q:
    """Hostname or system id containing `query`, or a MAC or an IP address of the machine."""
    condition = Q(hostname__icontains=query) | Q(system_id__icontains=query)
    macs = _mac_condition(query.lower())
    if macs is not None:
        condition |= Q(pk__in=Interface.objects.filter(macs).values("machine_id"))
    addresses = _ip_condition(query)
    if addresses is not None:
        condition |= Q(pk__in=StaticIPAddress.objects.filter(
            addresses, interface__isnull=False).values("interface__machine_id"))
    return condition


def _mac_condition(query: str) -> Q | None:
    """A whole MAC in any format matches exactly; a partial one ("52:54:00") as a substring."""
    try:
        return Q(mac_address=normalise_mac(query))
    except ValidationError:
        pass
    if _PARTIAL_MAC.match(query):
        return Q(mac_address__contains=query.replace("-", ":"))
    return None


def _ip_condition(query: str) -> Q | None:
    """A whole address matches exactly; the start of an IPv4 one ("10.0.3.") as a prefix."""
    try:
        return Q(ip=str(ipaddress.ip_address(query)))
    except ValueError:
        pass
    if _PARTIAL_IPV4.match(query):
        return Q(ip__startswith=query)
    return None


def page_details(machines: list[Machine]) -> list[Machine]:
    """Give each machine of a page its ip_addresses, storage and memory_bytes (bytes),
    tag_names and status_message: four queries for any page."""
    ids = [machine.pk for machine in machines]
    addresses, tags = defaultdict(list), defaultdict(list)
    for machine_id, ip in StaticIPAddress.objects.filter(
            interface__machine_id__in=ids).order_by("ip").values_list("interface__machine_id",
                                                                       "ip"):
        addresses[machine_id].append(ip)
    storage = dict(BlockDevice.objects.filter(machine_id__in=ids).order_by().values(
        "machine_id").annotate(total=Sum("size")).values_list("machine_id", "total"))
    for machine_id, name in Machine.tags.through.objects.filter(machine_id__in=ids).order_by(
            "tag__name").values_list("machine_id", "tag__name"):
        tags[machine_id].append(name)
    messages = latest_event_descriptions(ids)
    for machine in machines:
        machine.ip_addresses = addresses[machine.pk]
        machine.storage = storage.get(machine.pk, 0)
        machine.memory_bytes = machine.memory * 1024 * 1024  # memory is in MiB
        machine.tag_names = tags[machine.pk]
        machine.status_message = machine.error_description or messages.get(machine.pk, "")
    return machines


def latest_event_descriptions(machine_ids: list[int]) -> dict[int, str]:
    """Machine id -> the description of its latest event but debug ones (what MAAS shows
    under a machine's status), in one query."""
    latest = Event.objects.filter(machine_id__in=machine_ids).exclude(
        level=EventLevel.DEBUG).order_by().values("machine_id").annotate(last=Max("id"))
    return dict(Event.objects.filter(id__in=latest.values("last")).values_list(
        "machine_id", "description"))


def live_rows(user, system_ids: list[str]) -> list[dict]:
    """The status, status message and power state of these machines, those `user` may see
    (others are left out): two queries."""
    rows = list(machines_visible_to(user).filter(system_id__in=system_ids).order_by(
        "hostname").values("id", "system_id", "status", "error_description", "power_state"))
    messages = latest_event_descriptions([row["id"] for row in rows])
    for row in rows:
        row["status_message"] = row.pop("error_description") or messages.get(row["id"], "")
        del row["id"]
    return rows


def filter_choices(user) -> dict[str, list[str]]:
    """The names each filter offers: zones, pools, tags, owners and racks (one query each).

    A user sees unowned machines and their own, so the only owner they can filter on is
    themselves; admins get every user who owns a machine.
    """
    if is_admin(user):
        owners = list(get_user_model().objects.filter(machines__isnull=False).distinct()
                      .order_by("username").values_list("username", flat=True))
    else:
        owners = [user.username]
    return {
        "zones": list(Zone.objects.order_by("name").values_list("name", flat=True)),
        "pools": list(ResourcePool.objects.order_by("name").values_list("name", flat=True)),
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)),
        "owners": owners,
        "racks": list(RackController.objects.order_by("name").values_list("name", flat=True)),
    }


def deployable_releases() -> list[dict]:
    """The OS releases a deploy can choose ({"os", "series", "title"}), newest name first."""
    rows = BootResource.objects.filter(kind=BootResourceKind.DEPLOYABLE).order_by(
        "os", "-series").values("os", "series", "title").distinct()
    seen, releases = set(), []
    for row in rows:
        if (row["os"], row["series"]) not in seen:
            seen.add((row["os"], row["series"]))
            releases.append(row)
    return releases
