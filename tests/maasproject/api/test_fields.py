"""Control characters in any name or text field of the API: a 400 field error, nothing saved."""
import pytest

from nodes.models import Event, Machine
from tests.factories import BlockDeviceFactory, MachineFactory, ScriptFactory, ZoneFactory
from zones.models import ResourcePool, Zone

pytestmark = pytest.mark.django_db
NUL = "a\x00b"


@pytest.mark.parametrize(("url", "payload", "field"), [
    ("/api/v1/zones/", {"name": NUL}, "name"),
    ("/api/v1/zones/", {"name": "ok", "description": "x\x00"}, "description"),
    ("/api/v1/pools/", {"name": "po\nol"}, "name"),
    ("/api/v1/fabrics/", {"name": NUL}, "name"),
    ("/api/v1/tags/", {"name": "t\nag"}, "name"),
    ("/api/v1/tags/", {"name": "t", "kernel_opts": "quiet\x00"}, "kernel_opts"),
    ("/api/v1/machines/", {"hostname": "ho\nst"}, "hostname"),
    ("/api/v1/machines/", {"hostname": "h1", "zone": NUL}, "zone"),
    ("/api/v1/machines/", {"hostname": "h1", "pool": NUL}, "pool"),
    ("/api/v1/machines/", {"hostname": "h1", "tag_names": [NUL]}, "tag_names"),
    ("/api/v1/machines/", {"hostname": "h1", "description": NUL}, "description"),
    ("/api/v1/scripts/", {"name": NUL, "body": "#!/bin/sh\n"}, "name"),
    ("/api/v1/scripts/", {"name": "s", "body": "#!/bin/sh\n\x00"}, "body"),
    ("/api/v1/machines/allocate/", {"zone": NUL}, "zone"),
])
def test_control_characters_are_field_errors(admin_client, url, payload, field):
    counts = (Zone.objects.count(), ResourcePool.objects.count(), Machine.objects.count(),
              Event.objects.count())
    response = admin_client.post(url, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert counts == (Zone.objects.count(), ResourcePool.objects.count(),
                      Machine.objects.count(), Event.objects.count())


def test_machine_parts_actions_and_updates(admin_client):
    machine = MachineFactory()
    base = f"/api/v1/machines/{machine.system_id}/"
    disk = {"name": "sda", "size": 10, "model": "QEMU\x00"}
    assert "model" in admin_client.post(f"{base}block-devices/", disk, format="json").json()
    nic = {"name": "et\nh", "mac_address": "52:54:00:00:00:01"}
    assert "name" in admin_client.post(f"{base}interfaces/", nic, format="json").json()
    response = admin_client.post(f"{base}set-zone/", {"zone": NUL}, format="json")
    assert response.status_code == 400 and "zone" in response.json()
    response = admin_client.patch(base, {"hostname": "x\x00"}, format="json")
    assert response.status_code == 400 and "hostname" in response.json()
    zone = ZoneFactory()
    response = admin_client.patch(f"/api/v1/zones/{zone.pk}/", {"name": NUL}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    ScriptFactory(name="mine")
    response = admin_client.patch("/api/v1/scripts/mine/", {"title": "t\x00"}, format="json")
    assert response.status_code == 400 and "title" in response.json()
    assert not BlockDeviceFactory._meta.model.objects.filter(machine=machine).exists()
    assert machine.interfaces.count() == 0


def test_query_parameters_and_paths(admin_client):
    response = admin_client.get("/api/v1/machines/", {"zone": NUL})
    assert response.status_code == 400 and response.json() == {"zone": [
        "Must not contain control characters (NUL, tab, newline...)."]}
    response = admin_client.get("/api/v1/scripts/a%00b/")
    assert response.status_code == 400 and "detail" in response.json()
    assert admin_client.get("/api/v1/tags/a%0Ab/").status_code == 400
    assert admin_client.get("/api/v1/machines/", {"zone": "é"}).status_code == 200
