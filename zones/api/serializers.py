"""Serializers for zones, pools, fabrics, VLANs, subnets, IP ranges, static IPs and racks."""
from django.contrib.auth.models import User
from rest_framework import serializers

from maasproject.api.fields import NameField, NameRelatedField
from nodes.models import Interface
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
from zones.selectors import rack_status_reason


class ZoneSerializer(serializers.ModelSerializer):
    machine_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Zone
        fields = ["id", "name", "description", "machine_count", "created", "updated"]


class PoolSerializer(serializers.ModelSerializer):
    machine_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = ResourcePool
        fields = ["id", "name", "description", "machine_count", "created", "updated"]


class FabricSerializer(serializers.ModelSerializer):
    vlans = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Fabric
        fields = ["id", "name", "description", "vlans", "created"]


class VLANSerializer(serializers.ModelSerializer):
    """A VLAN; racks are given by system_id, fabric and relay VLAN by id."""

    primary_rack = NameRelatedField(
        slug_field="system_id", queryset=RackController.objects.all(), allow_null=True,
        required=False)
    secondary_rack = NameRelatedField(
        slug_field="system_id", queryset=RackController.objects.all(), allow_null=True,
        required=False)

    class Meta:
        model = VLAN
        fields = ["id", "fabric", "vid", "name", "mtu", "dhcp_on", "primary_rack",
                  "secondary_rack", "relay_vlan"]
        extra_kwargs = {"vid": {"required": True}}
        validators = []  # vid per fabric is checked by the service, with a field error


class SubnetSerializer(serializers.ModelSerializer):
    dns_servers = serializers.ListField(child=serializers.IPAddressField(), required=False)

    class Meta:
        model = Subnet
        fields = ["id", "name", "cidr", "vlan", "gateway_ip", "dns_servers", "managed",
                  "allow_enlistment", "bios_boot_loader"]


class IPRangeSerializer(serializers.ModelSerializer):
    comment = NameField(max_length=256, required=False, allow_blank=True)

    class Meta:
        model = IPRange
        fields = ["id", "subnet", "type", "start_ip", "end_ip", "comment"]


class StaticIPSerializer(serializers.ModelSerializer):
    """A static address; without a subnet, the subnet containing the IP is used."""

    subnet = serializers.PrimaryKeyRelatedField(queryset=Subnet.objects.all(), required=False)
    interface = serializers.PrimaryKeyRelatedField(
        queryset=Interface.objects.all(), allow_null=True, required=False)
    user = NameRelatedField(
        slug_field="username", queryset=User.objects.all(), allow_null=True, required=False)

    class Meta:
        model = StaticIPAddress
        fields = ["id", "ip", "subnet", "alloc_type", "interface", "user", "created"]


class RackSerializer(serializers.ModelSerializer):
    subnets = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    status_reason = serializers.SerializerMethodField()

    class Meta:
        model = RackController
        fields = ["id", "name", "system_id", "status", "status_reason", "last_heartbeat",
                  "version", "subnets", "services", "image_sync"]
        read_only_fields = fields

    def get_status_reason(self, rack) -> str:
        """Why the rack is not running ("" when it is)."""
        return rack_status_reason(rack)
