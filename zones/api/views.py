"""Views for zones, pools, fabrics, VLANs, subnets, IP ranges, static IPs and racks."""
from rest_framework import status, viewsets
from rest_framework.response import Response

from nodes.api.errors import exception_handler as nodes_exception_handler
from nodes.api.permissions import IsAdminOrReadOnly
from zones import selectors
from zones.api import filtersets as f
from zones.api import serializers as s
from zones.models import StaticIPAddress
from zones.services import addresses, networks, places
from zones.services.errors import InUseError


def exception_handler(exc, context):
    """The project's handler, plus 409 for objects still in use."""
    if isinstance(exc, InUseError):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return nodes_exception_handler(exc, context)


class _ServiceViewSet(viewsets.ModelViewSet):
    """Everyone authenticated reads; admins write through the create/update/delete services."""

    permission_classes = [IsAdminOrReadOnly]
    list_selector = None
    create_service = None
    update_service = None
    delete_service = None

    def get_exception_handler(self):
        return exception_handler

    def get_queryset(self):
        return type(self).list_selector()

    def service_fields(self, serializer) -> dict:
        return dict(serializer.validated_data)

    def perform_create(self, serializer):
        obj = type(self).create_service(self.request.user, **self.service_fields(serializer))
        serializer.instance = self.get_queryset().get(pk=obj.pk)

    def perform_update(self, serializer):
        obj = type(self).update_service(
            serializer.instance, self.request.user, **self.service_fields(serializer))
        serializer.instance = self.get_queryset().get(pk=obj.pk)

    def perform_destroy(self, instance):
        type(self).delete_service(instance, self.request.user)


class ZoneViewSet(_ServiceViewSet):
    """Availability zones; `default` always exists and cannot be renamed or deleted."""

    serializer_class = s.ZoneSerializer
    filterset_class = f.ZoneFilter
    list_selector = staticmethod(selectors.zones_list)
    create_service = staticmethod(places.zone_create)
    update_service = staticmethod(places.zone_update)
    delete_service = staticmethod(places.zone_delete)


class PoolViewSet(_ServiceViewSet):
    """Resource pools; `default` always exists and cannot be renamed or deleted."""

    serializer_class = s.PoolSerializer
    filterset_class = f.PoolFilter
    list_selector = staticmethod(selectors.pools_list)
    create_service = staticmethod(places.pool_create)
    update_service = staticmethod(places.pool_update)
    delete_service = staticmethod(places.pool_delete)


class FabricViewSet(_ServiceViewSet):
    """Fabrics; creating one also creates its untagged VLAN (vid 0)."""

    serializer_class = s.FabricSerializer
    filterset_class = f.FabricFilter
    list_selector = staticmethod(selectors.fabrics_list)
    create_service = staticmethod(networks.fabric_create)
    update_service = staticmethod(networks.fabric_update)
    delete_service = staticmethod(networks.fabric_delete)


class VLANViewSet(_ServiceViewSet):
    """VLANs; filter by fabric, vid, name."""

    serializer_class = s.VLANSerializer
    filterset_class = f.VLANFilter
    list_selector = staticmethod(selectors.vlans_list)
    create_service = staticmethod(networks.vlan_create)
    update_service = staticmethod(networks.vlan_update)
    delete_service = staticmethod(networks.vlan_delete)


class SubnetViewSet(_ServiceViewSet):
    """Subnets; filter by name, vlan, fabric, cidr."""

    serializer_class = s.SubnetSerializer
    filterset_class = f.SubnetFilter
    list_selector = staticmethod(selectors.subnets_list)
    create_service = staticmethod(networks.subnet_create)
    update_service = staticmethod(networks.subnet_update)
    delete_service = staticmethod(networks.subnet_delete)


class IPRangeViewSet(_ServiceViewSet):
    """IP ranges (dynamic or reserved); filter by subnet and type."""

    serializer_class = s.IPRangeSerializer
    filterset_class = f.IPRangeFilter
    list_selector = staticmethod(selectors.ipranges_list)
    create_service = staticmethod(addresses.iprange_create)
    update_service = staticmethod(addresses.iprange_update)
    delete_service = staticmethod(addresses.iprange_delete)


class StaticIPViewSet(_ServiceViewSet):
    """Static IP addresses; users see their own and those of machines they can see."""

    queryset = StaticIPAddress.objects.none()  # for the schema; get_queryset filters by user
    serializer_class = s.StaticIPSerializer
    filterset_class = f.StaticIPFilter
    create_service = staticmethod(addresses.static_ip_create)
    update_service = staticmethod(addresses.static_ip_update)
    delete_service = staticmethod(addresses.static_ip_delete)

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
