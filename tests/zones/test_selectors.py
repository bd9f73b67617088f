"""Zones selectors."""
import pytest

from tests.factories import (
    InterfaceFactory,
    MachineFactory,
    StaticIPAddressFactory,
    UserFactory,
    ZoneFactory,
)
from zones import selectors

pytestmark = pytest.mark.django_db


def test_zones_list_counts_machines():
    zone = ZoneFactory(name="a")
    MachineFactory.create_batch(2, zone=zone)
    counts = {z.name: z.machine_count for z in selectors.zones_list()}
    assert counts["a"] == 2
    assert counts["default"] == 0


def test_static_ips_visible_to_user():
    user, other = UserFactory(), UserFactory()
    own = StaticIPAddressFactory(user=user)
    on_own_machine = StaticIPAddressFactory(interface=InterfaceFactory(
        machine=MachineFactory(owner=user)))
    on_free_machine = StaticIPAddressFactory(interface=InterfaceFactory())
    StaticIPAddressFactory(interface=InterfaceFactory(machine=MachineFactory(owner=other)))
    StaticIPAddressFactory(user=other)
    StaticIPAddressFactory()
    visible = set(selectors.static_ips_visible_to(user))
    assert visible == {own, on_own_machine, on_free_machine}


def test_admin_sees_every_static_ip(admin):
    StaticIPAddressFactory.create_batch(3)
    assert selectors.static_ips_visible_to(admin).count() == 3
