"""The machine's network as cloud-init network config v1: modes, gateway, DNS, bonds, VLANs."""
import pytest

from nodes.choices import NodeStatus
from nodes.selectors.netconfig import machine_network_config
from nodes.services import links as svc
from nodes.services.interfaces import interface_create_bond, interface_create_vlan
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    MachineFactory,
    SubnetFactory,
    VLANFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return AdminFactory()


@pytest.fixture
def machine():
    return MachineFactory(status=NodeStatus.ALLOCATED)


def subnet(cidr="10.20.0.0/24", gateway="10.20.0.1", dns=("10.20.0.53",), vlan=None):
    return SubnetFactory(cidr=cidr, gateway_ip=gateway, dns_servers=list(dns),
                         vlan=vlan or VLANFactory())


def entries(machine) -> dict:
    return {entry.get("name", entry["type"]): entry
            for entry in machine_network_config(machine)["config"]}


def test_auto_link_is_the_static_address_deploy_gave_with_route_and_dns(machine, admin):
    eth0 = InterfaceFactory(machine=machine, name="eth0", mac_address="52:54:00:00:00:10")
    svc.interface_link_subnet(eth0, admin, mode="AUTO", subnet=subnet())
    svc.machine_links_assign(machine)
    config = machine_network_config(machine)
    assert config["version"] == 1
    assert config["config"] == [
        {"type": "physical", "id": "eth0", "name": "eth0", "mac_address": "52:54:00:00:00:10",
         "mtu": 1500, "subnets": [{"type": "static", "address": "10.20.0.2/24",
                                   "gateway": "10.20.0.1", "dns_nameservers": ["10.20.0.53"]}]},
        {"type": "nameserver", "address": ["10.20.0.53"], "search": []},
    ]


def test_modes_dhcp_link_up_unlinked_and_auto_before_deploy(machine, admin):
    names = ["eth0", "eth1", "eth2", "eth3"]
    eth = {name: InterfaceFactory(machine=machine, name=name) for name in names}
    svc.interface_link_subnet(eth["eth0"], admin, mode="DHCP", subnet=subnet(dns=()))
    svc.interface_link_subnet(eth["eth1"], admin, mode="LINK_UP")
    svc.interface_link_subnet(eth["eth3"], admin, mode="AUTO",
                              subnet=subnet("10.21.0.0/24", "10.21.0.1", ()))
    got = entries(machine)
    assert got["eth0"]["subnets"] == [{"type": "dhcp4"}]
    assert got["eth1"]["subnets"] == got["eth2"]["subnets"] == [{"type": "manual"}]
    assert got["eth3"]["subnets"] == [{"type": "manual"}]  # no address until deploy
    assert "nameserver" not in got


def test_default_route_only_through_the_gateway_link(machine, admin):
    eth0, eth1 = (InterfaceFactory(machine=machine, name=n) for n in ("eth0", "eth1"))
    svc.interface_link_subnet(eth0, admin, mode="STATIC", subnet=subnet())
    svc.interface_link_subnet(eth1, admin, mode="STATIC", default_gateway=True,
                              subnet=subnet("10.22.0.0/24", "10.22.0.1", ("10.22.0.2",)))
    got = entries(machine)
    assert "gateway" not in got["eth0"]["subnets"][0]
    assert got["eth1"]["subnets"][0]["gateway"] == "10.22.0.1"
    assert got["nameserver"]["address"] == ["10.20.0.53", "10.22.0.2"]


def test_ipv6_static_address_has_its_gateway(machine, admin):
    eth0 = InterfaceFactory(machine=machine, name="eth0")
    svc.interface_link_subnet(eth0, admin, mode="STATIC", ip_address="2001:db8::10",
                              subnet=subnet("2001:db8::/64", "2001:db8::1", ()))
    assert entries(machine)["eth0"]["subnets"] == [
        {"type": "static", "address": "2001:db8::10/64", "gateway": "2001:db8::1"}]


def test_bond_and_vlan_on_it(machine, admin):
    untagged = VLANFactory(vid=0)
    eth0, eth1 = (InterfaceFactory(machine=machine, name=n, vlan=untagged)
                  for n in ("eth0", "eth1"))
    bond = interface_create_bond(machine.pk, admin, parents=[eth0.pk, eth1.pk], name="bond0",
                                 options={"bond_mode": "802.3ad", "bond_miimon": 100})
    tagged = VLANFactory(fabric=untagged.fabric, vid=42)
    vlan = interface_create_vlan(machine.pk, admin, parent=[bond.pk], vlan=tagged)
    svc.interface_link_subnet(vlan, admin, mode="STATIC", subnet=subnet(vlan=tagged))
    config = machine_network_config(machine)["config"]
    assert [entry["type"] for entry in config] == [
        "physical", "physical", "bond", "vlan", "nameserver"]
    bond_entry, vlan_entry = config[2], config[3]
    assert bond_entry["bond_interfaces"] == ["eth0", "eth1"]
    assert bond_entry["mac_address"] == eth0.mac_address
    assert bond_entry["params"]["bond-mode"] == "802.3ad"
    assert bond_entry["params"]["bond-miimon"] == 100
    assert (vlan_entry["vlan_link"], vlan_entry["vlan_id"]) == ("bond0", 42)
    assert vlan_entry["subnets"][0]["address"].startswith("10.20.0.")


def test_disabled_interfaces_are_left_out(machine):
    InterfaceFactory(machine=machine, name="eth0", enabled=False)
    assert machine_network_config(machine)["config"] == []
