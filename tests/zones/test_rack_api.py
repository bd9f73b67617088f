"""The rack API: registration, rack authentication, heartbeats, leases, events, rack_secret."""
import hashlib
import time
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from nodes.choices import EventLevel
from nodes.models import Event, Machine
from tests.factories import InterfaceFactory, MachineFactory, SubnetFactory
from tests.zones.rack_helpers import rack_client, register
from zones.api.rack_api import REGISTER_FAILURES
from zones.models import DHCPLease, RackController
from zones.rackkeys import rack_power_key
from zones.services import rackapi

pytestmark = pytest.mark.django_db
IFACES = [{"name": "eth0", "mac": "52:54:00:00:00:01", "addresses": ["10.9.0.2/24"]}]


def _register(**overrides):
    body = {"secret": rackapi.rack_secret(), "name": "rack1", "version": "1.2",
            "interfaces": IFACES, **overrides}
    return APIClient().post("/api/v1/rack/register/", body, format="json")


def test_register_with_the_secret_returns_credentials_and_stores_a_hash():
    response = _register()
    assert response.status_code == 200, response.data
    body = response.json()
    assert set(body) == {"system_id", "name", "token", "power_key", "regions"}
    assert body["name"] == "rack1"
    rack = RackController.objects.get(name="rack1")
    assert rack.system_id == body["system_id"] and rack.version == "1.2"
    assert rack.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in rack.token_hash
    assert rack.interfaces == IFACES
    assert Event.objects.filter(type="rack_registered", hostname="rack1").exists()


@pytest.fixture
def no_failures_recorded():
    # Keys, not cache.clear(): with Redis the cache shares the broker's database.
    addresses = ["127.0.0.1", "10.1.2.3"]
    for address in addresses:
        REGISTER_FAILURES.reset(address)
    yield
    for address in addresses:
        REGISTER_FAILURES.reset(address)


def test_wrong_secrets_are_limited_per_source_address(no_failures_recorded, settings):
    for _ in range(settings.RACK_REGISTER_FAILURES):
        assert _register(secret="guess").status_code == 403
    refused = _register()  # even the right secret, until the window ends
    assert refused.status_code == 429 and int(refused["Retry-After"]) == 60
    assert "Too many failed attempts" in refused.json()["detail"]
    elsewhere = APIClient(REMOTE_ADDR="10.1.2.3").post(
        "/api/v1/rack/register/", {"secret": rackapi.rack_secret(), "name": "rack1",
                                   "version": "1", "interfaces": IFACES}, format="json")
    assert elsewhere.status_code == 200


def test_a_right_secret_never_counts_against_the_limit(no_failures_recorded, settings):
    for _ in range(settings.RACK_REGISTER_FAILURES + 2):
        assert _register().status_code == 200


def _heartbeat(answer: dict):
    return APIClient().post("/api/v1/rack/heartbeat/", {"interfaces": IFACES, "services": {}},
                            format="json",
                            HTTP_AUTHORIZATION=f"Rack {answer['system_id']}:{answer['token']}")


def test_register_and_heartbeat_answer_the_url_the_rack_used_without_region_urls(settings):
    settings.REGION_URLS = []
    answer = _register().json()
    assert answer["regions"] == ["http://testserver/"]
    assert _heartbeat(answer).json()["regions"] == ["http://testserver/"]


def test_register_and_heartbeat_answer_every_region_url(settings):
    settings.REGION_URLS = ["http://region1:5240/", "http://region2:5240/"]
    answer = _register().json()
    assert answer["regions"] == ["http://region1:5240/", "http://region2:5240/"]
    assert _heartbeat(answer).json()["regions"] == answer["regions"]


def test_the_power_key_comes_with_registration_and_heartbeats_and_changes_with_the_token():
    first = _register().json()
    rack = RackController.objects.get(name="rack1")
    assert first["power_key"] == rack_power_key(rack.system_id, rack.token_hash)
    beat = APIClient().post("/api/v1/rack/heartbeat/", {"interfaces": IFACES, "services": {}},
                            format="json",
                            HTTP_AUTHORIZATION=f"Rack {first['system_id']}:{first['token']}")
    assert beat.status_code == 200 and beat.json()["power_key"] == first["power_key"]
    again = _register().json()  # re-registered: a new token, a new key
    assert again["power_key"] != first["power_key"]


def test_register_links_subnets_of_its_addresses():
    subnet = SubnetFactory(cidr="10.9.0.0/24")
    SubnetFactory(cidr="10.8.0.0/24")
    _register()
    assert list(RackController.objects.get(name="rack1").subnets.all()) == [subnet]


def test_register_with_a_wrong_secret_is_forbidden():
    response = _register(secret="wrong")
    assert response.status_code == 403
    assert not RackController.objects.exists()


def test_register_validates_the_payload():
    assert _register(name="").status_code == 400
    assert _register(interfaces="eth0").status_code == 400


def test_re_registering_keeps_the_system_id_and_replaces_the_token():
    first = _register().json()
    second = _register().json()
    assert second["system_id"] == first["system_id"] and second["token"] != first["token"]
    rack = RackController.objects.get(name="rack1")
    old = rack_client(rack, first["token"]).post("/api/v1/rack/heartbeat/", {}, format="json")
    assert old.status_code == 401


@pytest.mark.parametrize("header", ["Rack nope:nope", "Rack {sid}:bad", "Rack {sid}", "Rack "])
def test_bad_rack_credentials_are_unauthorized(header):
    rack, _ = register("r1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(sid=rack.system_id))
    response = client.post("/api/v1/rack/heartbeat/", {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Rack")


def test_no_credentials_or_user_credentials_are_refused(admin_client):
    for client in (APIClient(), admin_client):
        assert client.get("/api/v1/rack/config/").status_code in (401, 403)


def test_a_rack_token_cannot_act_as_another_rack():
    rack1, token1 = register("r1")
    rack2, _ = register("r2")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Rack {rack2.system_id}:{token1}")
    assert client.post("/api/v1/rack/heartbeat/", {}, format="json").status_code == 401
    config = rack_client(rack1, token1).get("/api/v1/rack/config/").json()
    assert config["rack"] == {"system_id": rack1.system_id, "name": "r1"}


def test_heartbeat_links_subnets_and_sets_status(user_client):
    subnet = SubnetFactory(cidr="10.9.0.0/24")
    rack, token = register("r1")
    response = rack_client(rack, token).post(
        "/api/v1/rack/heartbeat/", {"interfaces": IFACES, "services": {"worker": "running"}},
        format="json")
    assert response.status_code == 200 and response.json()["status"] == "running"
    rack.refresh_from_db()
    assert rack.status == "running" and rack.last_heartbeat is not None
    assert list(rack.subnets.all()) == [subnet]
    assert rack.interfaces == IFACES and rack.services == {"worker": "running"}
    row = user_client.get(f"/api/v1/racks/{rack.system_id}/").json()
    assert row["status"] == "running" and row["last_heartbeat"]


def test_heartbeat_with_a_failed_service_is_degraded():
    rack, token = register("r1")
    response = rack_client(rack, token).post(
        "/api/v1/rack/heartbeat/", {"services": {"worker": "running", "dhcp": "failed"}},
        format="json")
    assert response.json()["status"] == "degraded"
    assert Event.objects.filter(type="rack_status", description__contains="degraded").exists()


LOADERS_MISSING = ("boot loaders missing: lpxelinux.0 (pxelinux), ldlinux.c32 (syslinux-common);"
                   " apt-get install pxelinux syslinux-common")


def test_a_rack_missing_boot_loaders_is_degraded_with_the_reason_until_they_are_back(
        user_client):
    rack, token = register("r1")
    client = rack_client(rack, token)
    beat = client.post("/api/v1/rack/heartbeat/", {
        "services": {"worker": "running", "bootsvc": "degraded"},
        "reasons": {"bootsvc": LOADERS_MISSING}}, format="json")
    assert beat.status_code == 200 and beat.json()["status"] == "degraded"
    row = user_client.get(f"/api/v1/racks/{rack.system_id}/").json()
    assert row["status"] == "degraded"
    assert row["status_reason"] == f"bootsvc degraded: {LOADERS_MISSING}"
    assert row["services"] == {"worker": "running", "bootsvc": "degraded"}
    event = Event.objects.get(type="rack_status", description__contains="now degraded")
    assert LOADERS_MISSING in event.description and event.level == EventLevel.WARNING

    beat = client.post("/api/v1/rack/heartbeat/", {
        "services": {"worker": "running", "bootsvc": "running"}}, format="json")
    assert beat.json()["status"] == "running"
    row = user_client.get(f"/api/v1/racks/{rack.system_id}/").json()
    assert (row["status"], row["status_reason"]) == ("running", "")
    assert Event.objects.filter(type="rack_status", description__contains="now running").exists()


@pytest.mark.parametrize("reasons", [{"dhcp": "not a service it reported"}, {"bootsvc": None},
                                     {"bootsvc": "x" * 1001}, ["bootsvc"]])
def test_heartbeat_reasons_are_validated(reasons):
    rack, token = register("r1")
    response = rack_client(rack, token).post("/api/v1/rack/heartbeat/", {
        "services": {"bootsvc": "degraded"}, "reasons": reasons}, format="json")
    assert response.status_code == 400 and "reasons" in response.json(), response.json()
    rack.refresh_from_db()
    assert rack.last_heartbeat is None


def test_a_boot_file_the_rack_cannot_serve_is_a_warning_on_the_machine():
    iface = InterfaceFactory(mac_address="52:54:00:12:34:56")
    rack, token = register("r1")
    description = ("TFTP lpxelinux.0 requested by 10.9.0.100: not on this rack; install the "
                   "Debian package pxelinux on the rack")
    batch = {"events": [{"mac": "52:54:00:12:34:56", "type": "boot_file_missing",
                         "path": "lpxelinux.0", "description": description,
                         "time": time.time()}]}
    response = rack_client(rack, token).post("/api/v1/rack/events/", batch, format="json")
    assert response.status_code == 200 and response.json() == {"recorded": 1, "ignored": 0}
    event = Event.objects.get(type="boot_file_missing")
    assert event.machine == iface.machine and event.level == EventLevel.WARNING
    assert event.description == f"{description} (rack r1)"


def _lease(**overrides):
    return {"mac": "52:54:00:AA:BB:CC", "ip": "10.9.0.100", "hostname": "h",
            "expires": time.time() + 600, "state": "active", **overrides}


def test_leases_are_recorded_and_an_active_lease_takes_its_address_over():
    subnet = SubnetFactory(cidr="10.9.0.0/24")
    rack, token = register("r1")
    client = rack_client(rack, token)
    response = client.post("/api/v1/rack/leases/", {"leases": [_lease()]}, format="json")
    assert response.status_code == 200 and response.json() == {"recorded": 1}
    lease = DHCPLease.objects.get()
    assert (lease.mac, lease.subnet, lease.rack, lease.state) == (
        "52:54:00:aa:bb:cc", subnet, rack, "active")
    client.post("/api/v1/rack/leases/", {"leases": [_lease(mac="52:54:00:aa:bb:dd")]},
                format="json")
    states = dict(DHCPLease.objects.values_list("mac", "state"))
    assert states == {"52:54:00:aa:bb:cc": "expired", "52:54:00:aa:bb:dd": "active"}
    client.post("/api/v1/rack/leases/", {"leases": [_lease(mac="52:54:00:aa:bb:dd",
                                                           state="released")]}, format="json")
    assert DHCPLease.objects.filter(state="active").count() == 0
    assert DHCPLease.objects.count() == 2


@pytest.mark.parametrize("bad", [{"mac": "nope"}, {"ip": "10.9.0.999"}, {"state": "gone"},
                                 {"expires": "soon"}, {"ip": "192.168.77.1"}])
def test_a_bad_lease_batch_stores_nothing(bad):
    SubnetFactory(cidr="10.9.0.0/24")
    rack, token = register("r1")
    batch = {"leases": [_lease(ip="10.9.0.101"), _lease(**bad)]}
    response = rack_client(rack, token).post("/api/v1/rack/leases/", batch, format="json")
    assert response.status_code == 400, response.data
    assert not DHCPLease.objects.exists()


def test_events_go_to_the_machine_of_the_mac_and_unknown_macs_are_ignored():
    iface = InterfaceFactory(mac_address="52:54:00:12:34:56")
    rack, token = register("r1")
    at = time.time() - 3600
    batch = {"events": [
        {"mac": "52:54:00:12:34:56", "type": "dhcp_discover", "description": "DISCOVER",
         "time": at},
        {"mac": "52:54:00:12:34:57", "type": "dhcp_ack", "description": "ACK"},
    ]}
    response = rack_client(rack, token).post("/api/v1/rack/events/", batch, format="json")
    assert response.status_code == 200 and response.json() == {"recorded": 1, "ignored": 1}
    event = Event.objects.get(type="dhcp_discover")
    assert event.machine == iface.machine and event.hostname == iface.machine.hostname
    assert "DISCOVER" in event.description and "r1" in event.description
    assert abs(event.created.timestamp() - at) < 1
    assert not Event.objects.filter(type="dhcp_ack").exists()


def test_a_discover_records_the_machines_firmware_and_keeps_secure_boot():
    iface = InterfaceFactory(mac_address="52:54:00:12:34:56")
    Machine.objects.filter(pk=iface.machine_id).update(firmware="uefi", secure_boot=True)
    rack, token = register("r1")
    client = rack_client(rack, token)
    batch = {"events": [{"mac": iface.mac_address, "type": "dhcp_discover",
                         "description": "DHCPDISCOVER (uefi)", "firmware": "uefi"}]}
    assert client.post("/api/v1/rack/events/", batch, format="json").status_code == 200
    machine = Machine.objects.get(pk=iface.machine_id)
    assert (machine.firmware, machine.secure_boot) == ("uefi", True)  # nothing new
    assert not Event.objects.filter(type="inventory_firmware").exists()
    batch["events"][0]["firmware"] = "bios"
    assert client.post("/api/v1/rack/events/", batch, format="json").status_code == 200
    machine.refresh_from_db()
    assert (machine.firmware, machine.secure_boot) == ("bios", None)
    assert Event.objects.get(type="inventory_firmware").description == "boots BIOS"
    batch["events"][0]["firmware"] = "openfirmware"
    assert client.post("/api/v1/rack/events/", batch, format="json").status_code == 400


def test_an_architecture_without_a_loader_is_a_warning_on_the_machine():
    iface = InterfaceFactory(mac_address="52:54:00:12:34:56")
    rack, token = register("r1")
    batch = {"events": [{"mac": iface.mac_address, "type": "boot_unsupported_arch",
                         "description": "no boot loader for client architecture 10"}]}
    response = rack_client(rack, token).post("/api/v1/rack/events/", batch, format="json")
    assert response.status_code == 200
    assert Event.objects.get(type="boot_unsupported_arch").level == EventLevel.WARNING


def test_bad_events_are_refused():
    MachineFactory()
    rack, token = register("r1")
    batch = {"events": [{"mac": "52:54:00:12:34:56", "type": "nonsense"}]}
    response = rack_client(rack, token).post("/api/v1/rack/events/", batch, format="json")
    assert response.status_code == 400


def test_rack_secret_command_prints_the_same_secret_each_time():
    outputs = []
    for _ in range(2):
        out = StringIO()
        call_command("rack_secret", stdout=out)
        outputs.append(out.getvalue().strip())
    assert outputs[0] == outputs[1] == rackapi.rack_secret() and len(outputs[0]) >= 24
