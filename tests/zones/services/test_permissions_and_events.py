"""Every zones write is admin only, recorded as an Event, and all-or-nothing."""
import pytest

from maasproject.errors import InUseError, NotPermitted
from nodes.models import Event
from tests.factories import (
    FabricFactory,
    IPRangeFactory,
    MachineFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    VLANFactory,
    ZoneFactory,
)
from zones.models import VLAN, Fabric, Zone
from zones.services import addresses, networks, places
from zones.services.common import delete

pytestmark = pytest.mark.django_db

WRITES = [
    lambda u: places.zone_create(u, name="z"),
    lambda u: places.zone_update(ZoneFactory(), u, description="x"),
    lambda u: places.zone_delete(ZoneFactory(), u),
    lambda u: places.pool_create(u, name="p"),
    lambda u: networks.fabric_create(u, name="f"),
    lambda u: networks.fabric_delete(FabricFactory(), u),
    lambda u: networks.vlan_create(u, fabric=FabricFactory(), vid=9),
    lambda u: networks.vlan_update(VLANFactory(vid=3), u, mtu=9000),
    lambda u: networks.subnet_create(u, vlan=VLANFactory(), cidr="10.77.0.0/24"),
    lambda u: networks.subnet_delete(SubnetFactory(), u),
    lambda u: addresses.iprange_delete(IPRangeFactory(), u),
    lambda u: addresses.static_ip_create(u, ip="10.77.0.9", subnet=SubnetFactory(
        cidr="10.77.0.0/24")),
    lambda u: addresses.static_ip_delete(StaticIPAddressFactory(), u),
]


@pytest.mark.parametrize("write", WRITES)
def test_users_may_not_write(write, user):
    before = Event.objects.count()
    with pytest.raises(NotPermitted):
        write(user)
    assert Event.objects.count() == before


@pytest.mark.parametrize("write", WRITES)
def test_admin_writes_record_an_event(write, admin):
    write(admin)
    assert Event.objects.filter(user=admin, machine=None).count() == 1


def test_internal_callers_act_as_system():
    zone = places.zone_create(None, name="from-task")
    assert zone.pk
    assert Event.objects.get(type="zone_created").user is None


def test_failed_fabric_create_leaves_nothing(admin):
    FabricFactory(name="f")
    with pytest.raises(Exception):  # noqa: B017 - ValidationError from full_clean
        networks.fabric_create(admin, name="f")
    assert Fabric.objects.count() == 1
    assert VLAN.objects.count() == 0
    assert not Event.objects.exists()


def test_refused_delete_writes_no_event(admin):
    zone = ZoneFactory()
    MachineFactory(zone=zone)
    with pytest.raises(InUseError):
        places.zone_delete(zone, admin)
    assert not Event.objects.exists()
    assert Zone.objects.filter(pk=zone.pk).exists()


def test_protected_error_becomes_in_use():
    zone = ZoneFactory()
    MachineFactory(zone=zone)
    with pytest.raises(InUseError, match="still used by 1 machines"):
        delete(zone, f"zone {zone.name}")


def test_subnet_create_normalises(admin):
    subnet = networks.subnet_create(admin, vlan=VLANFactory(), cidr="10.1.2.3/16",
                                    gateway_ip="", dns_servers=["1.1.1.1"])
    assert subnet.cidr == "10.1.0.0/16"
    assert subnet.gateway_ip is None
