"""Reads for machines and events, shaped for the API (a fixed number of queries per page)."""
from django.db.models import Prefetch, Q, QuerySet

from nodes.models import BlockDevice, Event, Interface, Machine
from nodes.services.permissions import is_admin


def machines_visible_to(user) -> QuerySet[Machine]:
    """Admins see every machine; users see unowned machines and their own (as in MAAS)."""
    queryset = Machine.objects.select_related("zone", "pool", "owner").prefetch_related(
        "tags",
        Prefetch("interfaces", queryset=Interface.objects.order_by("name")),
        Prefetch("block_devices", queryset=BlockDevice.objects.order_by("name")),
    )
    if is_admin(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(Q(owner__isnull=True) | Q(owner=user))


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
