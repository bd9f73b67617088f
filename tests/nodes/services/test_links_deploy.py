"""AUTO link addresses: assigned by machine_deploy, freed by machine_release; the free-address
search of zones.services.addresses."""
import pytest

from nodes.choices import NodeStatus
from nodes.models import Event, InterfaceLink, Machine, ScriptSet
from nodes.services import links as svc
from nodes.services.actions import machine_abort, machine_deploy, machine_release
from nodes.services.interfaces import interface_create_bond
from nodes.services.lifecycle import machine_finish
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    UserFactory,
)
from tests.nodes.bootresource_factories import deployable_resource
from zones.models import StaticIPAddress
from zones.services.addresses import SubnetExhausted, subnet_free_ip

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(power_requests):
    deployable_resource()
    return UserFactory()


def allocated(owner, subnet, *modes: str) -> Machine:
    """An Allocated machine of `owner` with an interface per mode, linked to `subnet`."""
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=owner, power_type="ipmi")
    for mode in modes:
        svc.interface_link_subnet(InterfaceFactory(machine=machine), owner, mode=mode,
                                  subnet=subnet)
    return machine


def addresses(machine: Machine) -> list[tuple[str, str]]:
    return sorted(InterfaceLink.objects.filter(interface__machine=machine).values_list(
        "mode", "address__ip"), key=str)


def test_deploy_gives_auto_links_the_lowest_free_address(owner):
    subnet = SubnetFactory(cidr="10.40.0.0/24", gateway_ip="10.40.0.2")
    IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.40.0.3", end_ip="10.40.0.4")
    IPRangeFactory(subnet=subnet, start_ip="10.40.0.6", end_ip="10.40.0.9")
    StaticIPAddressFactory(subnet=subnet, ip="10.40.0.1")
    StaticIPAddressFactory(subnet=subnet, ip="10.40.0.5", alloc_type="discovered")
    machine = allocated(owner, subnet, "AUTO")
    machine_deploy(machine.system_id, owner)
    assert addresses(machine) == [("auto", "10.40.0.10")]
    static = StaticIPAddress.objects.get(ip="10.40.0.10")
    assert (static.alloc_type, static.interface.machine) == ("auto", machine)
    assert "10.40.0.10" in Event.objects.get(machine=machine, type="ip_assigned").description


def test_release_frees_auto_addresses_and_keeps_static_ones(owner):
    subnet = SubnetFactory(cidr="10.41.0.0/24", gateway_ip="10.41.0.1")
    machine = allocated(owner, subnet, "STATIC", "AUTO", "DHCP")
    machine_deploy(machine.system_id, owner)
    deployed = addresses(machine)
    assert [mode for mode, ip in deployed if ip] == ["auto", "static"]
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)
    machine_release(machine.system_id, owner)
    assert addresses(machine) == [("auto", None), ("dhcp", None), ("static", "10.41.0.2")]
    assert list(StaticIPAddress.objects.values_list("ip", flat=True)) == ["10.41.0.2"]
    released = Event.objects.get(machine=machine, type="ip_released")
    assert dict(deployed)["auto"] in released.description
    machine_finish(machine.system_id, success=True)  # Releasing -> Ready: nothing more to free
    assert list(StaticIPAddress.objects.values_list("ip", flat=True)) == ["10.41.0.2"]


def test_a_manually_powered_machine_is_released_at_once_and_its_addresses_too(owner):
    subnet = SubnetFactory(cidr="10.42.0.0/24")
    machine = allocated(owner, subnet, "AUTO")
    Machine.objects.filter(pk=machine.pk).update(power_type="manual")
    machine_deploy(machine.system_id, owner)
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)
    machine_release(machine.system_id, owner)
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.READY
    assert addresses(machine) == [("auto", None)] and not StaticIPAddress.objects.exists()


def test_an_aborted_deploy_keeps_its_address_for_the_next_one(owner):
    subnet = SubnetFactory(cidr="10.43.0.0/24")
    machine = allocated(owner, subnet, "AUTO")
    machine_deploy(machine.system_id, owner)
    first = addresses(machine)
    machine_abort(machine.system_id, owner)
    machine_deploy(machine.system_id, owner)
    assert addresses(machine) == first == [("auto", "10.43.0.1")]


def test_a_full_subnet_refuses_the_deploy_and_keeps_nothing(owner):
    subnet = SubnetFactory(cidr="10.44.0.0/29", gateway_ip="10.44.0.1")  # .2-.6 for hosts
    IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.44.0.2", end_ip="10.44.0.5")
    machine = allocated(owner, subnet, "STATIC", "AUTO")  # STATIC takes .6, the last one
    events = Event.objects.count()
    with pytest.raises(SubnetExhausted) as caught:
        machine_deploy(machine.system_id, owner)
    assert caught.value.status_code == 409
    assert "10.44.0.0/29 has no free IP address" in str(caught.value)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.ALLOCATED and machine.osystem == ""
    assert not ScriptSet.objects.filter(machine=machine).exists()
    assert addresses(machine) == [("auto", None), ("static", "10.44.0.6")]
    assert Event.objects.count() == events


def test_an_address_taken_outside_the_subnet_lock_is_skipped(owner):
    """The unique ip is the last guard: an address held under another (overlapping) subnet."""
    subnet = SubnetFactory(cidr="10.45.0.0/24")
    wider = SubnetFactory(cidr="10.45.0.0/16")
    StaticIPAddress.objects.create(ip="10.45.0.1", subnet=wider)
    machine = allocated(owner, subnet, "AUTO")
    machine_deploy(machine.system_id, owner)
    assert addresses(machine) == [("auto", "10.45.0.2")]


@pytest.mark.parametrize(("cidr", "gateway", "ranges", "taken", "expected"), [
    ("10.50.0.0/30", None, [], [], "10.50.0.1"),
    ("10.50.0.0/30", "10.50.0.1", [], ["10.50.0.2"], None),
    ("10.50.0.0/31", None, [], [], "10.50.0.0"),
    ("10.50.0.7/32", None, [], [], "10.50.0.7"),
    ("10.50.0.0/24", "10.50.0.1", [("10.50.0.2", "10.50.0.9"), ("10.50.0.10", "10.50.0.20")],
     ["10.50.0.21"], "10.50.0.22"),
    ("10.50.0.0/24", "10.50.0.254", [("10.50.0.1", "10.50.0.253")], [], None),
    ("fd00:50::/64", "fd00:50::1", [], [], "fd00:50::2"),
])
def test_subnet_free_ip(cidr, gateway, ranges, taken, expected):
    subnet = SubnetFactory(cidr=cidr, gateway_ip=gateway)
    for start, end in ranges:
        IPRangeFactory(subnet=subnet, type="reserved", start_ip=start, end_ip=end)
    for ip in taken:
        StaticIPAddressFactory(subnet=subnet, ip=ip)
    assert subnet_free_ip(subnet) == expected


def test_deploy_gives_a_bonds_auto_link_its_address(owner):
    subnet = SubnetFactory(cidr="10.42.0.0/24", gateway_ip="10.42.0.1")
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=owner, power_type="ipmi")
    eth0, eth1 = (InterfaceFactory(machine=machine, vlan=subnet.vlan) for _ in range(2))
    bond = interface_create_bond(machine.pk, AdminFactory(), parents=[eth0.pk, eth1.pk])
    svc.interface_link_subnet(bond, owner, mode="AUTO", subnet=subnet)
    machine_deploy(machine.system_id, owner)
    static = StaticIPAddress.objects.get(interface=bond)
    assert (static.ip, static.alloc_type) == ("10.42.0.2", "auto")
    assert addresses(machine) == [("auto", "10.42.0.2")]
    assert "bond0 10.42.0.2" in Event.objects.get(machine=machine, type="ip_assigned").description
