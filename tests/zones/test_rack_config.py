"""The rack config: subnets of the VLANs a rack is active for, hosts, leases, failover, ETag."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.models import Interface
from tests.factories import (
    InterfaceFactory,
    IPRangeFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    VLANFactory,
)
from tests.zones.rack_helpers import rack_client, register
from zones.models import DHCPLease
from zones.services.racks import rack_status_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def racks():
    (primary, ptoken), (secondary, stoken) = register("primary"), register("secondary")
    return {"primary": rack_client(primary, ptoken), "secondary": rack_client(secondary, stoken),
            "primary_rack": primary, "secondary_rack": secondary}


@pytest.fixture
def vlan(racks):
    vlan = VLANFactory(vid=5, mtu=9000, dhcp_on=True, primary_rack=racks["primary_rack"],
                       secondary_rack=racks["secondary_rack"])
    subnet = SubnetFactory(vlan=vlan, cidr="10.0.0.0/24", gateway_ip="10.0.0.1",
                           dns_servers=["10.0.0.1"])
    IPRangeFactory(subnet=subnet, start_ip="10.0.0.100", end_ip="10.0.0.199")
    IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.0.0.2", end_ip="10.0.0.9")
    iface = InterfaceFactory(mac_address="52:54:00:12:34:56", machine__hostname="node1")
    StaticIPAddressFactory(subnet=subnet, ip="10.0.0.20", interface=iface)
    StaticIPAddressFactory(subnet=subnet, ip="10.0.0.21")  # reserved by a user, no interface
    now = timezone.now()
    DHCPLease.objects.create(ip="10.0.0.100", mac="52:54:00:aa:bb:cc", subnet=subnet,
                             expires=now + timedelta(minutes=10), rack=racks["primary_rack"])
    DHCPLease.objects.create(ip="10.0.0.101", mac="52:54:00:aa:bb:cd", subnet=subnet,
                             expires=now - timedelta(minutes=1))
    DHCPLease.objects.create(ip="10.0.0.102", mac="52:54:00:aa:bb:ce", subnet=subnet,
                             expires=now + timedelta(minutes=10), state="released")
    return vlan


def heartbeat(client):
    assert client.post("/api/v1/rack/heartbeat/", {}, format="json").status_code == 200


def config(client) -> dict:
    response = client.get("/api/v1/rack/config/")
    assert response.status_code == 200
    return response.json()


def test_config_of_the_active_rack(racks, vlan):
    heartbeat(racks["primary"])
    heartbeat(racks["secondary"])
    body = config(racks["primary"])
    assert body["http_port"] == 5248
    assert body["rack"]["name"] == "primary"
    assert body["dhcp"]["subnets"] == [{
        "vlan": 5, "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "dns_servers": ["10.0.0.1"],
        "mtu": 9000, "lease_time": 600, "enlist_lease_time": 120, "allow_enlistment": True,
        "bios_boot_loader": "pxelinux",
        "dynamic_ranges": [{"start": "10.0.0.100", "end": "10.0.0.199"}],
        "reserved_ranges": [{"start": "10.0.0.2", "end": "10.0.0.9"}],
    }]
    machine = vlan.subnets.get().static_ips.get(ip="10.0.0.20").interface.machine
    assert body["dhcp"]["hosts"] == [{"mac": "52:54:00:12:34:56", "ip": "10.0.0.20",
                                      "hostname": "node1", "system_id": machine.system_id}]
    leases = body["dhcp"]["leases"]
    assert [(lease["ip"], lease["mac"]) for lease in leases] == [
        ("10.0.0.100", "52:54:00:aa:bb:cc")]
    assert config(racks["secondary"])["dhcp"] == {"subnets": [], "hosts": [], "leases": []}


def test_config_carries_the_subnets_bios_boot_loader(racks, vlan):
    vlan.subnets.update(bios_boot_loader="ipxe")
    heartbeat(racks["primary"])
    assert [s["bios_boot_loader"] for s in config(racks["primary"])["dhcp"]["subnets"]] == ["ipxe"]


def test_dhcp_off_means_no_subnets(racks, vlan):
    heartbeat(racks["primary"])
    vlan.dhcp_on = False
    vlan.save()
    assert config(racks["primary"])["dhcp"]["subnets"] == []


def test_failover_to_the_secondary_and_back(racks, vlan, settings):
    settings.RACK_DEAD_AFTER = 30
    heartbeat(racks["primary"])
    heartbeat(racks["secondary"])
    later = timezone.now() + timedelta(seconds=31)
    racks["secondary_rack"].__class__.objects.filter(name="secondary").update(
        last_heartbeat=later)
    assert rack_status_sweep(now=later) == [("primary", "dead")]
    assert config(racks["primary"])["dhcp"]["subnets"] == []
    taken = config(racks["secondary"])["dhcp"]
    assert [s["cidr"] for s in taken["subnets"]] == ["10.0.0.0/24"]
    assert [lease["ip"] for lease in taken["leases"]] == ["10.0.0.100"]
    assert [host["ip"] for host in taken["hosts"]] == ["10.0.0.20"]
    heartbeat(racks["primary"])  # the primary returns and takes its VLAN back
    assert [s["cidr"] for s in config(racks["primary"])["dhcp"]["subnets"]] == ["10.0.0.0/24"]
    assert config(racks["secondary"])["dhcp"]["subnets"] == []


def test_no_live_rack_serves_the_vlan(racks, vlan):
    for name in ("primary", "secondary"):
        assert config(racks[name])["dhcp"]["subnets"] == []  # both never heartbeat: dead


def test_etag_and_304(racks, vlan):
    heartbeat(racks["primary"])
    client = racks["primary"]
    first = client.get("/api/v1/rack/config/")
    etag = first["ETag"]
    assert etag.startswith('"')
    again = client.get("/api/v1/rack/config/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    assert client.get("/api/v1/rack/config/", HTTP_IF_NONE_MATCH='"x"').status_code == 200
    SubnetFactory(vlan=vlan, cidr="10.0.1.0/24")
    changed = client.get("/api/v1/rack/config/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert len(changed.json()["dhcp"]["subnets"]) == 2


def test_a_bonds_address_is_reserved_for_the_mac_it_shows(racks, vlan):
    heartbeat(racks["primary"])
    eth = InterfaceFactory(mac_address="52:54:00:12:34:57", machine__hostname="node2")
    bond = Interface.objects.create(machine=eth.machine, name="bond0", type="bond", vlan=vlan)
    bond.parents.add(eth)
    StaticIPAddressFactory(subnet=vlan.subnets.get(), ip="10.0.0.30", interface=bond)
    hosts = config(racks["primary"])["dhcp"]["hosts"]
    assert {"mac": "52:54:00:12:34:57", "ip": "10.0.0.30", "hostname": "node2",
            "system_id": eth.machine.system_id} in hosts
