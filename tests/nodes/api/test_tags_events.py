"""Tags and events API: permissions, validation, filters."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.choices import EventLevel
from nodes.models import Event, Tag
from nodes.services.events import event_record
from tests.factories import MachineFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_tag_crud_as_admin(admin_client):
    response = admin_client.post("/api/v1/tags/", {"name": "gpu", "kernel_opts": "nomodeset"},
                                 format="json")
    assert response.status_code == 201
    assert admin_client.patch("/api/v1/tags/gpu/", {"comment": "GPUs"},
                              format="json").json()["comment"] == "GPUs"
    assert admin_client.delete("/api/v1/tags/gpu/").status_code == 204
    assert not Tag.objects.filter(name="gpu").exists()


def test_tag_bad_name_is_400_and_user_cannot_write(admin_client, user_client):
    response = admin_client.post("/api/v1/tags/", {"name": "bad name"}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    TagFactory(name="dup")
    assert admin_client.post("/api/v1/tags/", {"name": "dup"}, format="json").status_code == 400
    assert user_client.post("/api/v1/tags/", {"name": "mine"}, format="json").status_code == 403
    assert user_client.get("/api/v1/tags/").status_code == 200
    assert Tag.objects.count() == 1


def test_tag_lists_machine_count(admin_client):
    tag = TagFactory(name="ssd")
    MachineFactory.create_batch(2, tags=[tag])
    assert admin_client.get("/api/v1/tags/ssd/").json()["machine_count"] == 2


def test_event_filters(admin_client):
    machine, other = MachineFactory(), MachineFactory()
    event_record(machine=machine, type="power_request", level=EventLevel.ERROR, description="x")
    event_record(machine=other, type="created")
    old = event_record(machine=machine, type="created")
    Event.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=2))

    def types(**params):
        return [e["type"] for e in admin_client.get("/api/v1/events/", params).json()["results"]]

    assert types(machine=machine.system_id) == ["power_request", "created"]
    assert types(level="error") == ["power_request"]
    assert types(type="created", machine=other.system_id) == ["created"]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert types(machine=machine.system_id, after=since) == ["power_request"]
    assert types(machine=machine.system_id, before=since) == ["created"]
    assert admin_client.get("/api/v1/events/", {"level": "LOUD"}).status_code == 400


def test_users_see_events_of_visible_machines_only(user_client, user):
    mine = MachineFactory(owner=user)
    theirs = MachineFactory(owner=UserFactory())
    event_record(machine=mine, type="mine")
    event_record(machine=theirs, type="theirs")
    event_record(machine=None, type="region")
    types = {e["type"] for e in user_client.get("/api/v1/events/").json()["results"]}
    assert types == {"mine"}
    assert user_client.post("/api/v1/events/", {}, format="json").status_code == 405


@pytest.mark.parametrize("url", ["/api/v1/machines/", "/api/v1/tags/", "/api/v1/events/",
                                 "/api/v1/machines/abc123/interfaces/"])
def test_anonymous_is_401(anon_client, url):
    assert anon_client.get(url).status_code == 401


def test_schema_and_offline_docs(admin_client):
    schema = admin_client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/machines/{system_id}/commission/" in schema.content
    docs = admin_client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert b"cdn.jsdelivr" not in docs.content
