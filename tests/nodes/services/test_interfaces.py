"""Physical, bond, bridge and VLAN interfaces: creation, update and delete, their rules, who
and when; links on bonds and bridges."""
import pytest
from django.core.exceptions import ValidationError

from maasproject.errors import NotPermitted
from nodes.choices import NodeStatus
from nodes.models import Event, Interface, InterfaceLink
from nodes.services import interfaces as svc
from nodes.services import links
from nodes.services.errors import LinksNotEditable
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    MachineFactory,
    SubnetFactory,
    UserFactory,
    VLANFactory,
)
from zones.models import StaticIPAddress

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return AdminFactory()


@pytest.fixture
def net():
    """Fabric A's untagged VLAN (10.30.0.0/24) and tagged VLAN 100; fabric B's VLAN 200."""
    untagged = VLANFactory(vid=0)
    return {"untagged": untagged, "subnet": SubnetFactory(vlan=untagged, cidr="10.30.0.0/24"),
            "v100": VLANFactory(fabric=untagged.fabric, vid=100),
            "v200": VLANFactory(vid=200)}


@pytest.fixture
def machine(net):
    """A Ready machine with eth0 and eth1 on fabric A's untagged VLAN."""
    machine = MachineFactory(status=NodeStatus.READY)
    for index in range(2):
        InterfaceFactory(machine=machine, name=f"eth{index}", vlan=net["untagged"],
                         mac_address=f"52:54:00:30:00:0{index}")
    return machine


def nic(machine, name: str) -> Interface:
    return machine.interfaces.get(name=name)


def snapshot() -> tuple:
    """What a refused call must leave untouched."""
    return (sorted(Interface.objects.values_list("pk", "name", "type", "mac_address", "vlan_id",
                                                 "params", "enabled")),
            sorted(Interface.parents.through.objects.values_list("from_interface",
                                                                 "to_interface")),
            sorted(InterfaceLink.objects.values_list("pk", "interface_id", "address_id")),
            StaticIPAddress.objects.count(), Event.objects.count())


def refused(field: str, call, *args, **kwargs) -> list[str]:
    """Call, expecting field errors on `field` and nothing written; the messages."""
    before = snapshot()
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    assert snapshot() == before
    assert field in caught.value.message_dict, caught.value.message_dict
    return caught.value.message_dict[field]


# --- physical ----------------------------------------------------------------------------------

def test_physical_gets_the_next_free_eth_name_and_a_normalised_mac(machine, admin, net):
    created = svc.interface_create_physical(machine.pk, admin, mac_address="52-54-00-30-00-AA",
                                            vlan=net["untagged"], mtu=9000)
    assert (created.name, created.type, created.mac_address) == ("eth2", "physical",
                                                                 "52:54:00:30:00:aa")
    assert created.params == {"mtu": 9000} and created.vlan == net["untagged"]
    assert Event.objects.filter(machine=machine, type="interface_created").exists()


@pytest.mark.parametrize(("fields", "field"), [
    ({"mac_address": ""}, "mac_address"),
    ({"mac_address": "01:00:5e:00:00:01"}, "mac_address"),  # multicast
    ({"mac_address": "52:54:00:30:00:01"}, "mac_address"),  # eth1's
    ({"mac_address": "52:54:00:30:00:aa", "name": "eth1"}, "name"),
    ({"mac_address": "52:54:00:30:00:aa", "name": "a b"}, "name"),
    ({"mac_address": "52:54:00:30:00:aa", "mtu": 100}, "mtu"),
])
def test_physical_refusals(machine, admin, fields, field):
    refused(field, svc.interface_create_physical, machine.pk, admin, **fields)


# --- bonds -------------------------------------------------------------------------------------

def test_bond_of_two_takes_the_first_parents_mac_and_vlan_and_drops_their_links(
        machine, admin, net):
    eth0, eth1 = nic(machine, "eth0"), nic(machine, "eth1")
    links.interface_link_subnet(eth1, admin, mode="STATIC", subnet=net["subnet"])
    bond = svc.interface_create_bond(machine.pk, admin, parents=[eth1.pk, eth0.pk],
                                     options={"bond_mode": "802.3ad", "bond_miimon": 50})
    assert (bond.name, bond.type, bond.vlan, bond.mac_address) == (
        "bond0", "bond", net["untagged"], None)
    assert bond.effective_mac_address == eth1.mac_address  # the first parent given
    assert [p.name for p in bond.parents_in_order()] == ["eth1", "eth0"]
    assert bond.params == {**{k: o.default for k, o in svc.BOND_OPTIONS.items()},
                           "bond_mode": "802.3ad", "bond_miimon": 50}
    assert not InterfaceLink.objects.filter(interface__in=[eth0, eth1]).exists()
    assert StaticIPAddress.objects.count() == 0
    assert svc.interface_create_bond(machine.pk, admin, parents=[
        svc.interface_create_physical(machine.pk, admin, mac_address="52:54:00:30:00:bb",
                                      vlan=net["untagged"]).pk]).name == "bond1"


def test_a_bond_with_its_own_mac_or_its_parents(machine, admin):
    eth0 = nic(machine, "eth0")
    assert svc.interface_create_bond(machine.pk, admin, parents=[eth0.pk], name="b",
                                     mac_address=eth0.mac_address).mac_address is None
    Interface.objects.filter(name="b").delete()
    own = svc.interface_create_bond(machine.pk, admin, parents=[eth0.pk],
                                    mac_address="52:54:00:30:00:cc")
    assert own.effective_mac_address == "52:54:00:30:00:cc"


@pytest.mark.parametrize("case", ["none", "foreign", "in_bond", "bad_mode", "vlans", "vlan_nic",
                                  "name", "mac", "negative"])
def test_bond_refusals(machine, admin, net, case):
    eth0, eth1 = nic(machine, "eth0"), nic(machine, "eth1")
    parents, kwargs, field = [eth0.pk, eth1.pk], {}, "parents"
    if case == "none":
        parents = []
    elif case == "foreign":
        parents = [eth0.pk, InterfaceFactory().pk]
    elif case == "in_bond":
        svc.interface_create_bond(machine.pk, admin, parents=[eth1.pk])
    elif case == "bad_mode":
        kwargs, field = {"options": {"bond_mode": "round-robin"}}, "bond_mode"
    elif case == "vlans":
        Interface.objects.filter(pk=eth1.pk).update(vlan=None)
    elif case == "vlan_nic":
        parents = [svc.interface_create_vlan(machine.pk, admin, parent=[eth0.pk],
                                             vlan=net["v100"]).pk]
    elif case == "name":
        kwargs, field = {"name": "eth1"}, "name"
    elif case == "mac":
        kwargs, field = {"mac_address": InterfaceFactory().mac_address}, "mac_address"
    elif case == "negative":
        kwargs, field = {"options": {"bond_miimon": -1}}, "bond_miimon"
    refused(field, svc.interface_create_bond, machine.pk, admin, parents=parents, **kwargs)


# --- bridges -----------------------------------------------------------------------------------

def test_bridge_takes_over_its_parents_links_and_keeps_its_vlan_children(machine, admin, net):
    eth0 = nic(machine, "eth0")
    link = links.interface_link_subnet(eth0, admin, mode="STATIC", subnet=net["subnet"])
    tagged = svc.interface_create_vlan(machine.pk, admin, parent=[eth0.pk], vlan=net["v100"])
    bridge = svc.interface_create_bridge(machine.pk, admin, parent=[eth0.pk],
                                         options={"bridge_stp": True})
    assert (bridge.name, bridge.vlan, bridge.params) == ("br0", net["untagged"],
                                                          {"bridge_stp": True, "bridge_fd": 15})
    link.refresh_from_db()
    assert link.interface == bridge and link.address.interface == bridge
    assert set(eth0.children.values_list("name", flat=True)) == {"br0", tagged.name}
    refused("__all__", links.interface_link_subnet, eth0, admin, mode="DHCP",
            subnet=net["subnet"])


@pytest.mark.parametrize("case", ["two", "in_bond", "bridge", "none"])
def test_bridge_refusals(machine, admin, case):
    eth0, eth1 = nic(machine, "eth0"), nic(machine, "eth1")
    parent = {"two": [eth0.pk, eth1.pk], "none": []}.get(case, [eth0.pk])
    if case == "in_bond":
        svc.interface_create_bond(machine.pk, admin, parents=[eth0.pk])
    elif case == "bridge":
        parent = [svc.interface_create_bridge(machine.pk, admin, parent=[eth0.pk]).pk]
    refused("parent", svc.interface_create_bridge, machine.pk, admin, parent=parent)


# --- VLAN interfaces ---------------------------------------------------------------------------

def test_vlan_interface_is_named_after_its_parent_and_vid(machine, admin, net):
    eth0 = nic(machine, "eth0")
    tagged = svc.interface_create_vlan(machine.pk, admin, parent=[eth0.pk], vlan=net["v100"])
    assert (tagged.name, tagged.type, tagged.vlan, tagged.mac_address) == (
        "eth0.100", "vlan", net["v100"], None)
    assert tagged.effective_mac_address == eth0.mac_address


@pytest.mark.parametrize("case", ["untagged", "other_fabric", "twice", "missing",
                                  "on_vlan", "in_bond", "disconnected"])
def test_vlan_refusals(machine, admin, net, case):
    eth0 = nic(machine, "eth0")
    parent, vlan, field = [eth0.pk], net["v100"], "vlan"
    if case == "untagged":
        vlan = net["untagged"]
    elif case == "other_fabric":
        vlan = net["v200"]
    elif case == "twice":
        svc.interface_create_vlan(machine.pk, admin, parent=[eth0.pk], vlan=vlan)
    elif case == "missing":
        vlan = None
    elif case == "on_vlan":
        parent, field = [svc.interface_create_vlan(machine.pk, admin, parent=[eth0.pk],
                                                   vlan=vlan).pk], "parent"
    elif case == "in_bond":
        svc.interface_create_bond(machine.pk, admin, parents=[eth0.pk])
        field = "parent"
    elif case == "disconnected":
        Interface.objects.filter(pk=eth0.pk).update(vlan=None)
    refused(field, svc.interface_create_vlan, machine.pk, admin, parent=parent, vlan=vlan)


def test_a_vlan_interface_links_only_subnets_of_its_vlan(machine, admin, net):
    tagged = svc.interface_create_vlan(machine.pk, admin, parent=[nic(machine, "eth0").pk],
                                       vlan=net["v100"])
    refused("subnet", links.interface_link_subnet, tagged, admin, mode="AUTO",
            subnet=net["subnet"])
    tagged_subnet = SubnetFactory(vlan=net["v100"], cidr="10.31.0.0/24")
    assert links.interface_link_subnet(tagged, admin, mode="STATIC",
                                       subnet=tagged_subnet).address.interface == tagged


# --- who and when ------------------------------------------------------------------------------

def test_only_admins_create_and_the_owner_may_update_and_delete(net):
    owner = UserFactory()
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=owner)
    eth0 = InterfaceFactory(machine=machine, vlan=net["untagged"])
    before = snapshot()
    with pytest.raises(NotPermitted):
        svc.interface_create_bond(machine.pk, owner, parents=[eth0.pk])
    with pytest.raises(NotPermitted):
        svc.interface_delete(eth0.pk, UserFactory())
    assert snapshot() == before
    bond = svc.interface_create_bond(machine.pk, AdminFactory(), parents=[eth0.pk])
    assert svc.interface_update(bond.pk, owner, name="uplink").name == "uplink"
    assert svc.interface_delete(bond.pk, owner) == ["uplink"]


def test_a_deployed_machines_interfaces_do_not_change(machine, admin):
    machine.__class__.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)
    before = snapshot()
    with pytest.raises(LinksNotEditable, match="interfaces"):
        svc.interface_create_bond(machine.pk, admin, parents=[nic(machine, "eth0").pk])
    with pytest.raises(LinksNotEditable):
        svc.interface_delete(nic(machine, "eth1").pk, admin)
    assert snapshot() == before


# --- update and delete -------------------------------------------------------------------------

def test_update_name_mtu_options_and_vlan(machine, admin, net):
    eth0 = nic(machine, "eth0")
    links.interface_link_subnet(eth0, admin, mode="STATIC", subnet=net["subnet"])
    bond = svc.interface_create_bond(machine.pk, admin, parents=[eth0.pk])
    links.interface_link_subnet(bond, admin, mode="STATIC", subnet=net["subnet"])
    updated = svc.interface_update(bond.pk, admin, name="uplink", mtu=9000, enabled=False,
                                   options={"bond_mode": "balance-rr"})
    assert (updated.name, updated.params["mtu"], updated.params["bond_mode"],
            updated.enabled) == ("uplink", 9000, "balance-rr", False)
    assert updated.links.count() == 1
    svc.interface_update(bond.pk, admin, vlan=net["v200"])
    assert not InterfaceLink.objects.filter(interface=bond).exists()
    assert StaticIPAddress.objects.count() == 0
    refused("name", svc.interface_update, bond.pk, admin, name="eth1")
    refused("bond_mode", svc.interface_update, bond.pk, admin, options={"bond_mode": "x"})
    refused("mac_address", svc.interface_update, nic(machine, "eth1").pk, admin,
            mac_address="")


def test_a_vlan_interface_renamed_with_its_vlan(machine, admin, net):
    v101 = VLANFactory(fabric=net["untagged"].fabric, vid=101)
    tagged = svc.interface_create_vlan(machine.pk, admin, parent=[nic(machine, "eth0").pk],
                                       vlan=net["v100"])
    assert svc.interface_update(tagged.pk, admin, vlan=v101).name == "eth0.101"
    assert svc.interface_update(nic(machine, "eth0").pk, admin, name="lan").name == "lan"
    assert Interface.objects.get(pk=tagged.pk).name == "lan.101"
    refused("vlan", svc.interface_update, tagged.pk, admin, vlan=net["untagged"])
    refused("name", svc.interface_update, tagged.pk, admin, name="mine")


def test_delete_takes_the_interfaces_left_without_a_parent(machine, admin, net):
    eth0, eth1 = nic(machine, "eth0"), nic(machine, "eth1")
    bond = svc.interface_create_bond(machine.pk, admin, parents=[eth0.pk, eth1.pk])
    tagged = svc.interface_create_vlan(machine.pk, admin, parent=[bond.pk], vlan=net["v100"])
    links.interface_link_subnet(bond, admin, mode="STATIC", subnet=net["subnet"])
    assert svc.interface_delete(eth0.pk, admin) == ["eth0"]
    assert bond.effective_mac_address == eth1.mac_address  # the remaining parent's now
    assert svc.interface_delete(eth1.pk, admin) == ["eth1", "bond0", "bond0.100"]
    assert not Interface.objects.filter(pk__in=[bond.pk, tagged.pk]).exists()
    assert StaticIPAddress.objects.count() == 0
    assert Event.objects.filter(type="interface_deleted",
                                description__contains="bond0.100").exists()
