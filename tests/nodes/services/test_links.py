"""Interface links: link/unlink a subnet, disconnect, the default gateway, who and when."""
import pytest
from django.core.exceptions import ValidationError

from maasproject.errors import InUseError, NotPermitted
from nodes.choices import NodeStatus
from nodes.models import Event, InterfaceLink, Machine
from nodes.services import links as svc
from nodes.services.errors import LinksNotEditable
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    UserFactory,
    VLANFactory,
)
from zones.models import StaticIPAddress
from zones.services.addresses import static_ip_delete
from zones.services.networks import subnet_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def nic(owner):
    """An interface of an Allocated machine owned by `owner`, on no VLAN."""
    return InterfaceFactory(machine=MachineFactory(status=NodeStatus.ALLOCATED, owner=owner))


@pytest.fixture
def subnet():
    """10.20.0.0/24, gateway .1, dynamic range .100-.200, reserved .2-.9."""
    subnet = SubnetFactory(cidr="10.20.0.0/24", gateway_ip="10.20.0.1")
    IPRangeFactory(subnet=subnet)
    IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.20.0.2", end_ip="10.20.0.9")
    return subnet


def snapshot() -> tuple:
    """What a refused call must leave untouched."""
    return (list(InterfaceLink.objects.values_list("pk", "mode", "address_id")),
            list(StaticIPAddress.objects.values_list("ip", flat=True)),
            list(Machine.objects.values_list("pk", "gateway_link_ipv4_id")),
            Event.objects.count())


# --- link_subnet -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["AUTO", "auto", "Auto", "DHCP", "dhcp"])
def test_auto_and_dhcp_links_get_no_address_yet_and_move_the_interface(nic, owner, subnet, mode):
    link = svc.interface_link_subnet(nic, owner, mode=mode, subnet=subnet)
    assert (link.mode, link.subnet, link.address) == (mode.lower(), subnet, None)
    nic.refresh_from_db()
    assert nic.vlan == subnet.vlan
    event = Event.objects.get(type="link_subnet")
    assert event.user == owner and "10.20.0.0/24" in event.description


def test_static_with_an_address_assigns_it_sticky(nic, owner, subnet):
    link = svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet,
                                     ip_address="10.20.0.50")
    static = link.address
    assert (static.ip, static.alloc_type, static.interface, static.subnet) == (
        "10.20.0.50", "sticky", nic, subnet)


def test_static_without_an_address_gets_the_lowest_free_one(nic, owner, subnet):
    StaticIPAddressFactory(subnet=subnet, ip="10.20.0.10")
    link = svc.interface_link_subnet(nic, owner, mode="static", subnet=subnet)
    assert link.address.ip == "10.20.0.11"  # .1 gateway, .2-.9 reserved, .10 taken


@pytest.mark.parametrize(("ip", "message"), [
    ("10.21.0.5", "not in subnet"),
    ("10.20.0.0", "network or broadcast"),
    ("10.20.0.255", "network or broadcast"),
    ("10.20.0.1", "gateway"),
    ("10.20.0.150", "dynamic range"),
    ("10.20.0.5", "reserved range"),
    ("10.20.0.60", "already assigned"),
    ("fd00::1", "not in subnet"),
    ("10.20.0", "not a valid IP"),
])
def test_static_addresses_are_checked_and_nothing_is_kept(nic, owner, subnet, ip, message):
    StaticIPAddressFactory(subnet=subnet, ip="10.20.0.60")
    before = snapshot()
    with pytest.raises(ValidationError) as caught:
        svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet, ip_address=ip)
    assert message in caught.value.message_dict["ip_address"][0]
    assert snapshot() == before
    nic.refresh_from_db()
    assert nic.vlan is None  # the VLAN move rolled back too


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"mode": "bogus"}, "mode"),
    ({"mode": ""}, "mode"),
    ({"mode": "AUTO", "subnet": None}, "subnet"),
    ({"mode": "STATIC", "subnet": None}, "subnet"),
    ({"mode": "DHCP", "subnet": None}, "subnet"),
    ({"mode": "AUTO", "ip_address": "10.20.0.50"}, "ip_address"),
    ({"mode": "DHCP", "default_gateway": True}, "default_gateway"),
])
def test_bad_links_are_field_errors(nic, owner, subnet, kwargs, field):
    kwargs.setdefault("subnet", subnet)
    before = snapshot()
    with pytest.raises(ValidationError) as caught:
        svc.interface_link_subnet(nic, owner, **kwargs)
    assert field in caught.value.message_dict
    assert snapshot() == before


def test_the_same_subnet_twice_is_refused(nic, owner, subnet):
    svc.interface_link_subnet(nic, owner, mode="AUTO", subnet=subnet)
    before = snapshot()
    with pytest.raises(ValidationError) as caught:
        svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet)
    assert "already linked" in caught.value.message_dict["subnet"][0]
    assert snapshot() == before


def test_one_dhcp_link_per_interface(nic, owner, subnet):
    svc.interface_link_subnet(nic, owner, mode="DHCP", subnet=subnet)
    other = SubnetFactory(vlan=subnet.vlan, cidr="10.22.0.0/24")
    with pytest.raises(ValidationError) as caught:
        svc.interface_link_subnet(nic, owner, mode="DHCP", subnet=other)
    assert "already has a DHCP link" in caught.value.message_dict["mode"][0]


def test_link_up_only_alone_and_gives_way_to_any_other_link(nic, owner, subnet):
    link_up = svc.interface_link_subnet(nic, owner, mode="link_up")
    assert (link_up.subnet, link_up.mode) == (None, "link_up")
    auto = svc.interface_link_subnet(nic, owner, mode="AUTO", subnet=subnet)
    assert list(nic.links.all()) == [auto]
    with pytest.raises(ValidationError) as caught:
        svc.interface_link_subnet(nic, owner, mode="LINK_UP", subnet=subnet)
    assert "LINK_UP" in caught.value.message_dict["mode"][0]


def test_a_subnet_on_another_vlan_moves_the_interface_and_drops_the_old_links(nic, owner,
                                                                               subnet):
    old = svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet)
    svc.machine_set_default_gateway(nic.machine, owner, old.pk)
    elsewhere = SubnetFactory(vlan=VLANFactory(), cidr="192.168.5.0/24")
    new = svc.interface_link_subnet(nic, owner, mode="AUTO", subnet=elsewhere)
    nic.refresh_from_db()
    assert nic.vlan == elsewhere.vlan
    assert list(nic.links.all()) == [new]
    assert not StaticIPAddress.objects.filter(pk=old.address_id).exists()
    assert Machine.objects.get(pk=nic.machine_id).gateway_link_ipv4 is None
    assert "links on other VLANs removed (freed 10.20.0.10)" in Event.objects.filter(
        type="link_subnet").latest("id").description


def test_default_gateway_with_the_link(nic, owner, subnet):
    link = svc.interface_link_subnet(nic, owner, mode="AUTO", subnet=subnet, default_gateway=True)
    assert Machine.objects.get(pk=nic.machine_id).gateway_link_ipv4 == link


@pytest.mark.parametrize(("cidr", "gateway", "message"), [
    ("10.30.0.0/24", None, "has no gateway"),
    ("fd00:30::/64", "fd00:30::1", "IPv6"),
])
def test_default_gateway_needs_an_ipv4_gateway(nic, owner, cidr, gateway, message):
    other = SubnetFactory(cidr=cidr, gateway_ip=gateway)
    before = snapshot()
    with pytest.raises(ValidationError) as caught:
        svc.interface_link_subnet(nic, owner, mode="AUTO", subnet=other, default_gateway=True)
    assert message in caught.value.message_dict["default_gateway"][0]
    assert snapshot() == before


# --- who and when ----------------------------------------------------------------------------

def test_another_user_may_not_change_links(nic, subnet):
    before = snapshot()
    with pytest.raises(NotPermitted):
        svc.interface_link_subnet(nic, UserFactory(), mode="AUTO", subnet=subnet)
    with pytest.raises(NotPermitted):
        svc.interface_disconnect(nic, UserFactory())
    assert snapshot() == before


def test_users_may_not_change_links_of_an_unowned_machine_admins_may(subnet):
    nic = InterfaceFactory(machine=MachineFactory(status=NodeStatus.READY))
    with pytest.raises(NotPermitted):
        svc.interface_link_subnet(nic, UserFactory(), mode="AUTO", subnet=subnet)
    link = svc.interface_link_subnet(nic, AdminFactory(), mode="AUTO", subnet=subnet)
    assert link.pk and svc.interface_link_subnet(nic, None, mode="DHCP",
                                                 subnet=SubnetFactory(vlan=subnet.vlan)).pk


@pytest.mark.parametrize("status", [NodeStatus.NEW, NodeStatus.READY, NodeStatus.BROKEN,
                                    NodeStatus.FAILED_DEPLOYMENT, NodeStatus.FAILED_TESTING])
def test_links_change_at_rest(subnet, status):
    nic = InterfaceFactory(machine=MachineFactory(status=status))
    assert svc.interface_link_subnet(nic, AdminFactory(), mode="AUTO", subnet=subnet).pk


@pytest.mark.parametrize("status", [NodeStatus.DEPLOYED, NodeStatus.DEPLOYING,
                                    NodeStatus.COMMISSIONING, NodeStatus.RELEASING,
                                    NodeStatus.RESCUE_MODE, NodeStatus.RETIRED])
def test_links_do_not_change_while_deployed_or_busy(subnet, owner, status):
    machine = MachineFactory(status=status, owner=owner)
    nic = InterfaceFactory(machine=machine)
    kept = InterfaceLink.objects.create(interface=nic, subnet=subnet, mode="dhcp")
    before = snapshot()
    calls = [
        lambda: svc.interface_link_subnet(nic, owner, mode="AUTO",
                                          subnet=SubnetFactory(vlan=subnet.vlan)),
        lambda: svc.interface_unlink_subnet(nic, owner, kept.pk),
        lambda: svc.interface_disconnect(nic, owner),
        lambda: svc.machine_set_default_gateway(machine, owner, kept.pk),
    ]
    for call in calls:
        with pytest.raises(LinksNotEditable) as caught:
            call()
        assert caught.value.status_code == 409
        assert caught.value.body()["status_name"] == NodeStatus(status).label
    assert snapshot()[:3] == before[:3]


# --- unlink, disconnect ----------------------------------------------------------------------

def test_unlink_frees_the_address_and_clears_the_gateway(nic, owner, subnet):
    link = svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet,
                                     ip_address="10.20.0.50", default_gateway=True)
    svc.interface_unlink_subnet(nic, owner, link.pk)
    assert not InterfaceLink.objects.exists() and not StaticIPAddress.objects.exists()
    assert Machine.objects.get(pk=nic.machine_id).gateway_link_ipv4 is None
    assert "10.20.0.50" in Event.objects.get(type="unlink_subnet").description


def test_unlink_of_a_link_of_another_interface_is_a_field_error(nic, owner, subnet):
    other = InterfaceFactory(machine=nic.machine)
    link = svc.interface_link_subnet(other, owner, mode="AUTO", subnet=subnet)
    for link_id in (link.pk, 999999):
        with pytest.raises(ValidationError) as caught:
            svc.interface_unlink_subnet(nic, owner, link_id)
        assert "has no link" in caught.value.message_dict["id"][0]
    assert InterfaceLink.objects.filter(pk=link.pk).exists()


def test_disconnect_removes_every_link_and_the_vlan(nic, owner, subnet):
    svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet)
    svc.interface_link_subnet(nic, owner, mode="AUTO",
                              subnet=SubnetFactory(vlan=subnet.vlan, cidr="10.23.0.0/24"))
    svc.interface_disconnect(nic, owner)
    nic.refresh_from_db()
    assert nic.vlan is None and not nic.links.exists() and not StaticIPAddress.objects.exists()
    assert "freed 10.20.0.10" in Event.objects.get(type="disconnect").description


# --- default gateway -------------------------------------------------------------------------

def test_set_default_gateway_picks_the_only_candidate(nic, owner, subnet):
    svc.interface_link_subnet(nic, owner, mode="LINK_UP")
    link = svc.interface_link_subnet(nic, owner, mode="DHCP", subnet=subnet)
    assert svc.machine_set_default_gateway(nic.machine, owner) == link
    assert Machine.objects.get(pk=nic.machine_id).gateway_link_ipv4 == link
    assert "10.20.0.1 through" in Event.objects.get(type="set_default_gateway").description


def test_set_default_gateway_with_several_candidates_needs_a_link_id(nic, owner, subnet):
    first = svc.interface_link_subnet(nic, owner, mode="AUTO", subnet=subnet)
    second_nic = InterfaceFactory(machine=nic.machine)
    other = SubnetFactory(vlan=subnet.vlan, cidr="10.24.0.0/24", gateway_ip="10.24.0.1")
    second = svc.interface_link_subnet(second_nic, owner, mode="AUTO", subnet=other)
    with pytest.raises(ValidationError, match="name one"):
        svc.machine_set_default_gateway(nic.machine, owner)
    assert svc.machine_set_default_gateway(nic.machine, owner, interface=second_nic) == second
    assert svc.machine_set_default_gateway(nic.machine, owner, first.pk) == first
    with pytest.raises(ValidationError, match="No such link"):
        svc.machine_set_default_gateway(nic.machine, owner, first.pk, interface=second_nic)


def test_set_default_gateway_refuses_links_without_a_gateway(nic, owner):
    bare = SubnetFactory(cidr="10.25.0.0/24")
    link = svc.interface_link_subnet(nic, owner, mode="AUTO", subnet=bare)
    with pytest.raises(ValidationError) as caught:
        svc.machine_set_default_gateway(nic.machine, owner, link.pk)
    assert "has no gateway" in caught.value.message_dict["link_id"][0]
    with pytest.raises(ValidationError, match="No link has a subnet with an IPv4 gateway"):
        svc.machine_set_default_gateway(nic.machine, owner)
    with pytest.raises(ValidationError, match="No such link"):
        svc.machine_set_default_gateway(nic.machine, owner, 999999)


# --- addresses outlive nothing ---------------------------------------------------------------

def test_deleting_an_interface_or_a_machine_frees_link_addresses(nic, owner, subnet):
    from nodes.services.actions import machine_delete
    from nodes.services.machines import interface_delete

    svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet)
    interface_delete(nic, AdminFactory())
    assert not StaticIPAddress.objects.exists()
    other = InterfaceFactory(machine=MachineFactory(status=NodeStatus.READY))
    svc.interface_link_subnet(other, None, mode="STATIC", subnet=subnet)
    machine_delete(other.machine.system_id, AdminFactory())
    assert not StaticIPAddress.objects.exists() and not InterfaceLink.objects.exists()


def test_a_link_address_or_a_linked_subnet_cannot_be_deleted_behind_the_link(nic, owner,
                                                                             subnet):
    link = svc.interface_link_subnet(nic, owner, mode="STATIC", subnet=subnet)
    with pytest.raises(InUseError, match="interface link"):
        static_ip_delete(link.address, AdminFactory())
    assert StaticIPAddress.objects.filter(pk=link.address_id).exists()
    bare = SubnetFactory(cidr="10.26.0.0/24")
    svc.interface_link_subnet(InterfaceFactory(machine=nic.machine), owner, mode="DHCP",
                              subnet=bare)
    with pytest.raises(InUseError, match="interface link"):
        subnet_delete(bare, AdminFactory())
