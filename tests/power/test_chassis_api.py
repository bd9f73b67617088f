"""POST /api/v1/chassis/: what is accepted, refused and sent to which rack."""
import pytest

from nodes.models import Event
from rack_worker.sealing import unseal
from tests.factories import RackControllerFactory, SubnetFactory, ZoneFactory
from tests.power.chassis_support import chassis_messages, make_chassis_rack
from zones.rackkeys import rack_power_key

SECRET = "Chassis-S3cret!"
BODY = {"chassis_type": "redfish", "hostname": "10.0.0.9:8000", "username": "admin",
        "password": SECRET}


@pytest.fixture
def chassis_rack(db, tmp_path, monkeypatch):
    return make_chassis_rack(tmp_path, monkeypatch)


@pytest.mark.django_db
def test_post_answers_202_with_the_rack_and_sends_the_discovery_sealed(
        admin_client, chassis_rack, sent):
    ZoneFactory(name="rack-a")
    response = admin_client.post("/api/v1/chassis/", {**BODY, "zone": "rack-a",
                                                      "accept_all": True}, format="json")
    assert response.status_code == 202, response.content
    data = response.json()
    assert data["rack"] == chassis_rack.name and data["hostname"] == "10.0.0.9:8000"
    assert data["zone"] == "rack-a" and data["accept_all"] is True
    assert "password" not in data and SECRET not in response.content.decode()
    [message] = chassis_messages(sent)
    assert message["queue"] == f"rack.{chassis_rack.name}"
    assert SECRET not in str(message)  # sealed for the rack, encrypted in the context
    opened = unseal(message["args"][0], rack_power_key(chassis_rack.system_id,
                                                       chassis_rack.token_hash))
    assert opened["params"]["power_pass"] == SECRET
    assert opened["params"]["power_address"] == "10.0.0.9:8000"
    event = Event.objects.get(type="chassis_add")
    assert event.description == (f"Asking {chassis_rack.name} to add machines from redfish "
                                 "chassis 10.0.0.9:8000")
    assert SECRET not in event.description


@pytest.mark.parametrize(("change", "field"), [
    ({"chassis_type": "ipmi"}, "chassis_type"),
    ({"hostname": ""}, "hostname"),
    ({"hostname": "http://10.0.0.9/some/path"}, "hostname"),
    ({"hostname": "10.0.0.9:99999"}, "hostname"),
    ({"username": ""}, "username"),
    ({"password": ""}, "password"),
    ({"zone": "no-such-zone"}, "zone"),
    ({"pool": "no-such-pool"}, "pool"),
    ({"domain": "example.com"}, "domain"),
    ({"zone": "bad\x00zone"}, "zone"),
    ({"hostname": "10.0.0.9\x07:80"}, "hostname"),
])
@pytest.mark.django_db
def test_bad_input_is_400_with_field_errors_and_nothing_saved_or_sent(
        admin_client, chassis_rack, sent, change, field):
    response = admin_client.post("/api/v1/chassis/", {**BODY, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert SECRET not in response.content.decode()
    assert not Event.objects.filter(type="chassis_add").exists()
    assert chassis_messages(sent) == []


@pytest.mark.django_db
def test_only_admins_add_a_chassis(user_client, chassis_rack, sent):
    assert user_client.post("/api/v1/chassis/", BODY, format="json").status_code == 403
    assert chassis_messages(sent) == []


@pytest.mark.django_db
def test_no_healthy_rack_is_409_and_nothing_saved(admin_client, sent):
    RackControllerFactory(status="dead")
    response = admin_client.post("/api/v1/chassis/", BODY, format="json")
    assert response.status_code == 409
    assert "rack" in response.json()["detail"]
    assert not Event.objects.filter(type="chassis_add").exists() and sent == []


@pytest.mark.django_db
def test_a_chassis_goes_to_the_rack_on_its_subnet(admin_client, chassis_rack, sent):
    near = RackControllerFactory(name="near-rack", status="running")
    near.subnets.add(SubnetFactory(cidr="10.0.0.0/24"))
    response = admin_client.post("/api/v1/chassis/", BODY, format="json")
    assert response.json()["rack"] == "near-rack"
    assert chassis_messages(sent)[0]["queue"] == "rack.near-rack"
