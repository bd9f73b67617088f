"""Reads for machines and events, shaped for the API (a fixed number of queries per page)."""
from collections import defaultdict

from django.db.models import Q, QuerySet

from nodes.models import BlockDevice, Event, Interface, Machine
from nodes.services.permissions import is_admin

INTERFACE_FIELDS = ("id", "name", "type", "mac_address", "vlan", "enabled", "link_speed")
BLOCK_DEVICE_FIELDS = ("id", "name", "type", "size", "block_size", "model", "serial", "id_path",
                       "tags")


def machines_visible_to(user) -> QuerySet[Machine]:
    """Admins see every machine; users see unowned machines and their own (as in MAAS)."""
    queryset = Machine.objects.select_related("zone", "pool", "owner")
    if is_admin(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(Q(owner__isnull=True) | Q(owner=user))


def load_hardware(machines: list[Machine]) -> list[Machine]:
    """Attach interfaces, block devices and tag names as plain rows: 3 queries for any page.

    Plain rows rather than prefetch_related: building model instances and per-machine
    querysets cost more than the SQL for a page of 100 machines.
    """
    ids = [machine.pk for machine in machines]
    interfaces, devices, tags = defaultdict(list), defaultdict(list), defaultdict(list)
    for row in Interface.objects.filter(machine_id__in=ids).order_by("name").values(
            "machine_id", *INTERFACE_FIELDS):
        interfaces[row.pop("machine_id")].append(row)
    for row in BlockDevice.objects.filter(machine_id__in=ids).order_by("name").values(
            "machine_id", *BLOCK_DEVICE_FIELDS):
        devices[row.pop("machine_id")].append(row)
    through = Machine.tags.through.objects.filter(machine_id__in=ids)
    for machine_id, name in through.values_list("machine_id", "tag__name"):
        tags[machine_id].append(name)
    for machine in machines:
        machine.hardware = {
            "interfaces": interfaces[machine.pk],
            "block_devices": devices[machine.pk],
            "tag_names": sorted(tags[machine.pk]),
        }
    return machines


def events_visible_to(user) -> QuerySet[Event]:
    """Admins see all events; users see events of machines they can see."""
    queryset = Event.objects.select_related("machine", "user")
    if is_admin(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(
        Q(machine__owner__isnull=True, machine__isnull=False) | Q(machine__owner=user)
    )
