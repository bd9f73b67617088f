"""Filters for the zones API lists."""
import django_filters
from django import forms

from maasproject.api.filters import IPAddressFilter
from zones.models import (
    VLAN,
    Fabric,
    IPRange,
    RackController,
    ResourcePool,
    StaticIPAddress,
    Subnet,
    Zone,
)


class ZoneFilter(django_filters.FilterSet):
    class Meta:
        model = Zone
        fields = ["name"]


class PoolFilter(django_filters.FilterSet):
    class Meta:
        model = ResourcePool
        fields = ["name"]


class FabricFilter(django_filters.FilterSet):
    class Meta:
        model = Fabric
        fields = ["name"]


class IntegerFilter(django_filters.NumberFilter):
    """A whole number: NumberFilter's DecimalField took ?vid=0.5 and matched nothing."""

    field_class = forms.IntegerField


class VLANFilter(django_filters.FilterSet):
    vid = IntegerFilter()

    class Meta:
        model = VLAN
        fields = ["name", "fabric", "vid"]


class SubnetFilter(django_filters.FilterSet):
    fabric = django_filters.NumberFilter(field_name="vlan__fabric_id")

    class Meta:
        model = Subnet
        fields = ["name", "vlan", "fabric", "cidr"]


class IPRangeFilter(django_filters.FilterSet):
    class Meta:
        model = IPRange
        fields = ["subnet", "type"]


class StaticIPFilter(django_filters.FilterSet):
    ip = IPAddressFilter(field_name="ip")

    class Meta:
        model = StaticIPAddress
        fields = ["ip", "subnet", "alloc_type"]


class RackFilter(django_filters.FilterSet):
    class Meta:
        model = RackController
        fields = ["name", "status"]
