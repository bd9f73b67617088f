"""Serializers for machines, interfaces, block devices, tags and events (MAAS field names)."""
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from maasproject.api.fields import NameField, NameRelatedField, TextField
from nodes.api.fields import MacAddressField
from nodes.architectures import normalise_architecture
from nodes.choices import EventLevel, Firmware, StorageLayout
from nodes.metadata.render import ERASE_MODES
from nodes.models import BlockDevice, Event, Interface, InterfaceLink, Machine, Tag
from nodes.selectors import load_hardware
from zones.models import ResourcePool, Zone


class NamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class GatewaySerializer(serializers.Serializer):
    """A default gateway: the address and the link whose subnet gives it (null: none)."""

    gateway_ip = serializers.IPAddressField(read_only=True, allow_null=True)
    link_id = serializers.IntegerField(read_only=True, allow_null=True)


class DefaultGatewaysSerializer(serializers.Serializer):
    ipv4 = GatewaySerializer(read_only=True)


class SubnetRefSerializer(serializers.Serializer):
    """The subnet of a link, enough to recognise it (all of it: /api/v1/subnets/{id}/)."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    cidr = serializers.CharField(read_only=True)
    vlan = serializers.IntegerField(source="vlan_id", read_only=True)
    gateway_ip = serializers.IPAddressField(read_only=True, allow_null=True)


class LinkSerializer(serializers.ModelSerializer):
    """A link of an interface: its mode (lower case), address and subnet (LINK_UP: maybe none)."""

    ip_address = serializers.IPAddressField(source="address.ip", read_only=True, allow_null=True,
                                            default=None)
    subnet = SubnetRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = InterfaceLink
        fields = ["id", "mode", "ip_address", "subnet"]
        read_only_fields = fields


class InterfaceSerializer(serializers.ModelSerializer):
    mac_address = MacAddressField()
    links = LinkSerializer(many=True, read_only=True)

    class Meta:
        model = Interface
        fields = ["id", "name", "type", "mac_address", "vlan", "enabled", "link_speed", "links"]

    def validate_mac_address(self, mac: str) -> str:
        if Interface.objects.filter(mac_address=mac).exists():
            raise serializers.ValidationError(f"MAC address {mac} is already in use.")
        return mac


class BlockDeviceSerializer(serializers.ModelSerializer):
    # A list of names, not any JSON: null or an object would reach the database (a 500).
    tags = serializers.ListField(child=NameField(max_length=64), required=False)

    class Meta:
        model = BlockDevice
        fields = ["id", "name", "type", "size", "block_size", "model", "serial", "id_path", "tags"]
        extra_kwargs = {"size": {"min_value": 1}}


def _iso(value) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


class MachineSerializer(serializers.ModelSerializer):
    """A machine as MAAS clients expect to read it."""

    status_name = serializers.CharField(read_only=True)
    zone = NamedRefSerializer(read_only=True)
    pool = NamedRefSerializer(read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Declared for the OpenAPI schema; the body is built in to_representation.
    tag_names = serializers.ListField(child=serializers.CharField(), read_only=True)
    boot_interface = InterfaceSerializer(read_only=True, allow_null=True)
    interface_set = InterfaceSerializer(many=True, read_only=True)
    blockdevice_set = BlockDeviceSerializer(many=True, read_only=True)
    ip_addresses = serializers.ListField(child=serializers.IPAddressField(), read_only=True)
    default_gateways = DefaultGatewaysSerializer(read_only=True)
    resource_uri = serializers.CharField(read_only=True)
    # null until the machine has netbooted or been commissioned
    firmware = serializers.ChoiceField(choices=Firmware.choices, read_only=True, allow_null=True)
    secure_boot = serializers.BooleanField(read_only=True, allow_null=True)

    class Meta:
        model = Machine
        fields = [
            "system_id", "hostname", "description", "status", "status_name", "previous_status",
            "status_expires", "error_description", "owner", "zone", "pool", "architecture",
            "cpu_count", "cpu_speed", "memory", "osystem", "distro_series", "power_type",
            "power_state", "netboot", "firmware", "secure_boot", "storage_layout", "boot_disk",
            "locked", "tag_names", "boot_interface", "interface_set",
            "blockdevice_set", "ip_addresses", "default_gateways", "created", "updated",
            "resource_uri",
        ]
        read_only_fields = fields

    def to_representation(self, machine: Machine) -> dict:
        """Build the body directly: generic field serialization dominated list latency."""
        if not hasattr(machine, "hardware"):
            load_hardware([machine])
        interfaces = machine.hardware["interfaces"]
        owner = machine.owner
        return {
            "system_id": machine.system_id,
            "hostname": machine.hostname,
            "description": machine.description,
            "status": machine.status,
            "status_name": machine.status_name,
            "previous_status": machine.previous_status,
            "status_expires": _iso(machine.status_expires),
            "error_description": machine.error_description,
            "owner": owner.username if owner else None,
            "zone": {"id": machine.zone_id, "name": machine.zone.name},
            "pool": {"id": machine.pool_id, "name": machine.pool.name},
            "architecture": machine.architecture,
            "cpu_count": machine.cpu_count,
            "cpu_speed": machine.cpu_speed,
            "memory": machine.memory,
            "osystem": machine.osystem,
            "distro_series": machine.distro_series,
            "power_type": machine.power_type,
            "power_state": machine.power_state,
            "netboot": machine.netboot,
            "firmware": machine.firmware or None,
            "secure_boot": machine.secure_boot,
            "storage_layout": machine.storage_layout,
            "boot_disk": machine.boot_disk_id,
            "locked": machine.locked,
            "tag_names": machine.hardware["tag_names"],
            "boot_interface": next((i for i in interfaces if i["type"] == "physical"), None),
            "interface_set": interfaces,
            "blockdevice_set": machine.hardware["block_devices"],
            "ip_addresses": machine.hardware["ip_addresses"],
            "default_gateways": machine.hardware["default_gateways"],
            "created": _iso(machine.created),
            "updated": _iso(machine.updated),
            "resource_uri": f"/api/v1/machines/{machine.system_id}/",
        }


class StorageLayoutParams(serializers.Serializer):
    """A machine's storage layout, and its boot disk (a disk's id or name; default: unchanged)."""

    storage_layout = serializers.ChoiceField(choices=StorageLayout.choices)
    boot_disk = NameField(required=False, allow_blank=True, max_length=64)


class MachineWriteSerializer(serializers.ModelSerializer):
    """Fields an admin sets when creating or editing a machine."""

    zone = NameRelatedField(queryset=Zone.objects.all(),
                            required=False)
    pool = NameRelatedField(queryset=ResourcePool.objects.all(),
                            required=False)
    tag_names = serializers.ListField(child=NameField(), required=False)
    mac_addresses = serializers.ListField(child=MacAddressField(), required=False)
    power_parameters = serializers.DictField(required=False, write_only=True)

    class Meta:
        model = Machine
        fields = [
            "hostname", "description", "architecture", "cpu_count", "cpu_speed", "memory",
            "osystem", "distro_series", "power_type", "power_parameters", "zone", "pool",
            "tag_names", "mac_addresses",
        ]
        # architecture: validated (and a bare `amd64` completed) by validate_architecture.
        extra_kwargs = {"hostname": {"required": False}, "architecture": {"validators": []}}

    def validate_architecture(self, value: str) -> str:
        try:
            return normalise_architecture(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def validate_tag_names(self, names: list[str]) -> list[str]:
        missing = sorted(set(names) - set(Tag.objects.filter(name__in=names).values_list(
            "name", flat=True)))
        if missing:
            raise serializers.ValidationError(f"Unknown tags: {', '.join(missing)}.")
        return names

    def validate_mac_addresses(self, result: list[str]) -> list[str]:
        errors = []
        if len(set(result)) != len(result):
            errors.append("MAC addresses must be distinct.")
        taken = Interface.objects.filter(mac_address__in=result).values_list(
            "mac_address", flat=True)
        errors.extend(f"MAC address {mac} is already in use." for mac in taken)
        if errors:
            raise serializers.ValidationError(errors)
        return result


class TagSerializer(serializers.ModelSerializer):
    machine_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Tag
        fields = ["id", "name", "comment", "kernel_opts", "machine_count", "created"]
        read_only_fields = ["id", "created"]


class EventSerializer(serializers.ModelSerializer):
    system_id = serializers.CharField(source="machine.system_id", read_only=True, default=None,
                                      allow_null=True)
    username = serializers.CharField(source="user.username", read_only=True, default=None,
                                     allow_null=True)
    level = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "system_id", "hostname", "type", "level", "description", "username",
                  "created"]

    def get_level(self, event: Event) -> str:
        return EventLevel(event.level).label


class ScriptNamesField(serializers.ListField):
    """Script names or tags: a list, or MAAS's comma-separated string ("none": no scripts)."""

    child = NameField(max_length=255)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [data]
        names = super().to_internal_value(data)
        names = [name.strip() for item in names for name in item.split(",") if name.strip()]
        return [] if names == ["none"] else names


# Parameters of the lifecycle actions.
class CommissionParams(serializers.Serializer):
    enable_ssh = serializers.BooleanField(default=False)
    skip_networking = serializers.BooleanField(default=False)
    skip_storage = serializers.BooleanField(default=False)
    commissioning_scripts = ScriptNamesField(required=False, default=None, allow_null=True)
    testing_scripts = ScriptNamesField(required=False, default=None, allow_null=True)


class TestingParams(serializers.Serializer):
    testing_scripts = ScriptNamesField(required=False, default=None, allow_null=True)


class DeployParams(serializers.Serializer):
    osystem = NameField(required=False, default="", max_length=64)
    distro_series = NameField(required=False, default="", max_length=64)
    user_data = TextField(required=False, default="", allow_blank=True,
                          trim_whitespace=False)


class ReleaseParams(serializers.Serializer):
    """release: `erase` with `erase_mode` quick|full|secure, or MAAS's `quick_erase` and
    `secure_erase` booleans (both: secure, falling back to quick where unsupported). Without
    `erase`, the configuration's enable_disk_erasing_on_release decides (machine_release)."""

    erase = serializers.BooleanField(required=False, allow_null=True, default=None)
    erase_mode = serializers.ChoiceField(choices=ERASE_MODES, required=False, default="")
    quick_erase = serializers.BooleanField(required=False, allow_null=True, default=None)
    secure_erase = serializers.BooleanField(required=False, allow_null=True, default=None)
    comment = TextField(required=False, default="", allow_blank=True)


class CommentParams(serializers.Serializer):
    comment = TextField(required=False, default="", allow_blank=True)


class MarkBrokenParams(serializers.Serializer):
    description = TextField(required=False, default="", allow_blank=True)


class PowerOffParams(serializers.Serializer):
    stop_mode = serializers.ChoiceField(choices=["soft", "hard"], default="hard")


class SetZoneParams(serializers.Serializer):
    zone = NameRelatedField(queryset=Zone.objects.all())


class SetPoolParams(serializers.Serializer):
    pool = NameRelatedField(queryset=ResourcePool.objects.all())


class AbortParams(serializers.Serializer):
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=1000)


class NoParams(serializers.Serializer):
    pass
