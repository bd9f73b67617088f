"""Views for zones, pools, fabrics, VLANs, subnets, IP ranges, static IPs and racks."""
from rest_framework import viewsets

from maasproject.api.viewsets import CrudServices, ServiceViewSet
from zones import selectors
from zones.api import filtersets as f
from zones.api import serializers as s
from zones.models import StaticIPAddress
from zones.services import addresses, networks, places


class ZoneViewSet(ServiceViewSet):
    """Availability zones; `default` always exists and cannot be renamed or deleted."""

    serializer_class = s.ZoneSerializer
    filterset_class = f.ZoneFilter
    services = CrudServices(
        places.zone_create, places.zone_update, places.zone_delete,
        list=selectors.zones_list)


class PoolViewSet(ServiceViewSet):
    """Resource pools; `default` always exists and cannot be renamed or deleted."""

    serializer_class = s.PoolSerializer
    filterset_class = f.PoolFilter
    services = CrudServices(
        places.pool_create, places.pool_update, places.pool_delete,
        list=selectors.pools_list)


class FabricViewSet(ServiceViewSet):
    """Fabrics; creating one also creates its untagged VLAN (vid 0)."""

    serializer_class = s.FabricSerializer
    filterset_class = f.FabricFilter
    services = CrudServices(
        networks.fabric_create, networks.fabric_update, networks.fabric_delete,
        list=selectors.fabrics_list)


class VLANViewSet(ServiceViewSet):
    """VLANs; filter by fabric, vid, name."""

    serializer_class = s.VLANSerializer
    filterset_class = f.VLANFilter
    services = CrudServices(
        networks.vlan_create, networks.vlan_update, networks.vlan_delete,
        list=selectors.vlans_list)


class SubnetViewSet(ServiceViewSet):
    """Subnets; filter by name, vlan, fabric, cidr."""

    serializer_class = s.SubnetSerializer
    filterset_class = f.SubnetFilter
    services = CrudServices(
        networks.subnet_create, networks.subnet_update, networks.subnet_delete,
        list=selectors.subnets_list)


class IPRangeViewSet(ServiceViewSet):
    """IP ranges (dynamic or reserved); filter by subnet and type."""

    serializer_class = s.IPRangeSerializer
    filterset_class = f.IPRangeFilter
    services = CrudServices(
        addresses.iprange_create, addresses.iprange_update, addresses.iprange_delete,
        list=selectors.ipranges_list)


class StaticIPViewSet(ServiceViewSet):
    """Static IP addresses; users see their own and those of machines they can see."""

    queryset = StaticIPAddress.objects.none()  # for the schema; get_queryset filters by user
    serializer_class = s.StaticIPSerializer
    filterset_class = f.StaticIPFilter
    services = CrudServices(
        addresses.static_ip_create, addresses.static_ip_update, addresses.static_ip_delete)

    def get_queryset(self):
        return selectors.static_ips_visible_to(self.request.user)

    def service_fields(self, serializer) -> dict:
        fields = dict(serializer.validated_data)
        if "user" in fields:
            fields["owner"] = fields.pop("user")
        return fields


class RackViewSet(viewsets.ReadOnlyModelViewSet):
    """Rack controllers (read only; racks register themselves)."""

    serializer_class = s.RackSerializer
    filterset_class = f.RackFilter
    lookup_field = "system_id"

    def get_queryset(self):
        return selectors.racks_list()
