"""events/?op=query: newest first, level filter, MAAS's date format and paging URIs."""
import re

import pytest

from nodes.choices import EventLevel
from nodes.models import Event
from tests.factories import MachineFactory, UserFactory
from tests.maasapi.conftest import API

pytestmark = pytest.mark.django_db


def test_query_pages_newest_first_with_next_and_prev(maas_admin):
    machine = MachineFactory(hostname="ev-1")
    events = [Event.objects.create(machine=machine, type=f"t{n}", description=f"d{n}")
              for n in range(5)]
    Event.objects.create(machine=machine, type="noise", level=EventLevel.DEBUG)
    first = maas_admin.get(API + "events/", {"op": "query", "hostname": "ev-1", "limit": 2})
    body = first.json()
    assert [e["type"] for e in body["events"]] == ["t4", "t3"] and body["count"] == 2
    event = body["events"][0]
    assert (event["node"], event["hostname"], event["level"]) == (machine.system_id, "ev-1",
                                                                   "INFO")
    assert re.fullmatch(r"\w{3}, \d\d \w{3}\. \d{4} \d\d:\d\d:\d\d", event["created"])
    older = maas_admin.get(body["next_uri"]).json()
    assert [e["type"] for e in older["events"]] == ["t2", "t1"]
    newer = maas_admin.get(older["prev_uri"]).json()
    assert [e["type"] for e in newer["events"]] == ["t4", "t3"]
    debug = maas_admin.get(API + "events/", {"op": "query", "level": "DEBUG",
                                             "id": machine.system_id}).json()
    assert debug["count"] == 6 and events[0].id in [e["id"] for e in debug["events"]]
    assert maas_admin.get(API + "events/", {"op": "query", "level": "LOUD"}).status_code == 400


def test_users_see_events_of_machines_they_can_see(maas_user):
    mine = MachineFactory(owner=maas_user.user)
    theirs = MachineFactory(owner=UserFactory())
    Event.objects.create(machine=mine, type="mine")
    Event.objects.create(machine=theirs, type="theirs")
    types = [e["type"] for e in maas_user.get(API + "events/", {"op": "query"}).json()["events"]]
    assert "mine" in types and "theirs" not in types
