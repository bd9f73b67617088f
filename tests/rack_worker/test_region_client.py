"""bootsvc.region.RegionClient against a live region (pytest-django's live_server)."""
import logging
import time

import pytest

from bootsvc.region import RegionAuthError, RegionClient, RegionError
from nodes.choices import NodeStatus
from nodes.models import Event
from tests.factories import InterfaceFactory, MachineFactory, SubnetFactory, VLANFactory
from zones.models import DHCPLease, RackController
from zones.services.rackapi import rack_secret

pytestmark = pytest.mark.django_db(transaction=True)
IFACES = [{"name": "eth0", "mac": "52:54:00:00:00:01", "addresses": ["10.7.0.2/24"]}]


@pytest.fixture
def client(live_server):
    client = RegionClient(live_server.url, retries=0)
    client.register(rack_secret(), "live1", "1.0", IFACES)
    return client


def test_register_heartbeat_and_config(client, caplog):
    rack = RackController.objects.get(name="live1")
    assert client.system_id == rack.system_id and client.token
    vlan = VLANFactory(dhcp_on=True, primary_rack=rack)
    SubnetFactory(vlan=vlan, cidr="10.7.0.0/24")
    with caplog.at_level(logging.DEBUG):
        assert client.heartbeat(IFACES, {"worker": "running"})["status"] == "running"
        config, etag = client.get_config()
        assert [s["cidr"] for s in config["dhcp"]["subnets"]] == ["10.7.0.0/24"]
        assert client.get_config(etag) is None
        assert client.get_config('"other"')[1] == etag
    assert client.token not in caplog.text
    assert RackController.objects.get(name="live1").status == "running"


def test_boot_leases_and_events(client):
    SubnetFactory(cidr="10.7.0.0/24")
    machine = MachineFactory(status=NodeStatus.DEPLOYING)
    InterfaceFactory(machine=machine, mac_address="52:54:00:12:34:56")
    decision = client.get_boot("52:54:00:12:34:56")
    assert decision["action"] == "deploy" and decision["system_id"] == machine.system_id
    lease = {"mac": "52:54:00:12:34:56", "ip": "10.7.0.100", "hostname": "",
             "expires": time.time() + 60, "state": "active"}
    assert client.post_leases([lease]) == {"recorded": 1}
    assert DHCPLease.objects.get().ip == "10.7.0.100"
    events = [{"mac": "52:54:00:12:34:56", "type": "dhcp_ack", "description": "ACK",
               "time": time.time()}]
    assert client.post_events(events) == {"recorded": 1, "ignored": 0}
    assert Event.objects.filter(machine=machine, type="dhcp_ack").exists()


def test_errors(client, live_server):
    with pytest.raises(RegionError) as bad:
        client.post_leases([{"mac": "x"}])
    assert bad.value.status == 400
    intruder = RegionClient(live_server.url, client.system_id, "wrong", retries=0)
    with pytest.raises(RegionAuthError) as refused:
        intruder.heartbeat([], {})
    assert refused.value.status == 401 and "wrong" not in str(refused.value)
    with pytest.raises(RegionAuthError):
        RegionClient(live_server.url, retries=0).register("bad secret", "live2")


def test_unreachable_region_is_retried_then_raises():
    unreachable = RegionClient("http://127.0.0.1:9/", "id", "tok", timeout=1, retries=2,
                               backoff=0.01)
    started = time.monotonic()
    with pytest.raises(RegionError) as error:
        unreachable.heartbeat([], {})
    assert error.value.status is None and "tok" not in str(error.value)
    assert time.monotonic() - started < 5
