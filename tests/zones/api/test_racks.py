"""Racks are read only over the API and looked up by system_id."""
import pytest

from tests.factories import RackControllerFactory, SubnetFactory
from zones.models import RackController

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["user_client", "admin_client"])
def reader(request):
    return request.getfixturevalue(request.param)


def test_list_and_retrieve(reader):
    rack = RackControllerFactory(version="1.0")
    subnet = SubnetFactory()
    rack.subnets.add(subnet)
    rows = reader.get("/api/v1/racks/").data["results"]
    assert [r["system_id"] for r in rows] == [rack.system_id]
    body = reader.get(f"/api/v1/racks/{rack.system_id}/").data
    assert body["name"] == rack.name
    assert body["status"] == "dead"
    assert body["version"] == "1.0"
    assert body["last_heartbeat"] is None
    assert body["subnets"] == [subnet.id]


def test_filter_by_status(reader):
    RackControllerFactory(status="running")
    RackControllerFactory(status="dead")
    rows = reader.get("/api/v1/racks/", {"status": "running"}).data["results"]
    assert [r["status"] for r in rows] == ["running"]


def test_no_writes(admin_client, user_client):
    rack = RackControllerFactory()
    for client in (admin_client, user_client):
        assert client.post("/api/v1/racks/", {"name": "x"}).status_code == 405
        assert client.delete(f"/api/v1/racks/{rack.system_id}/").status_code == 405
    assert RackController.objects.count() == 1


def test_anonymous(anon_client):
    assert anon_client.get("/api/v1/racks/").status_code == 401
