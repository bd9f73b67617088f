"""Power API serializers: the shape of GET /api/v1/power-types/ (for the OpenAPI schema)."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from maasproject.validators import validate_name
from power.drivers.base import FIELD_TYPES, SCOPES
from power.drivers.chassis import chassis_types


@extend_schema_field(OpenApiTypes.ANY)
class AnyValue(serializers.Field):
    """A JSON value of any type (a parameter's default: text, number, boolean or null)."""

    def to_representation(self, value):
        return value


class PowerFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.ChoiceField(choices=sorted(FIELD_TYPES))
    required = serializers.BooleanField()
    default = AnyValue(allow_null=True)
    choices = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2),
        help_text="[value, label] pairs of a choice field")
    secret = serializers.BooleanField()
    scope = serializers.ChoiceField(choices=sorted(SCOPES))
    min_value = serializers.IntegerField(allow_null=True)
    max_value = serializers.IntegerField(allow_null=True)


class PowerTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    queryable = serializers.BooleanField()
    can_set_boot_device = serializers.BooleanField()
    fields = PowerFieldSerializer(many=True)


class ChassisAddSerializer(serializers.Serializer):
    """POST /api/v1/chassis/: MAAS's add_chassis parameters (the password is write-only)."""

    chassis_type = serializers.ChoiceField(choices=chassis_types())
    hostname = serializers.CharField(
        max_length=255, validators=[validate_name],
        help_text="The chassis' address: host[:port] or URL (redfish), libvirt URI (virsh)")
    username = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=255, validators=[validate_name])
    password = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=255, write_only=True,
                                     style={"input_type": "password"})
    prefix_filter = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=63,
        validators=[validate_name],
        help_text="Add only the systems whose name starts with this")
    accept_all = serializers.BooleanField(required=False, default=False,
                                          help_text="Commission the new machines at once")
    domain = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                   default=None, validators=[validate_name])
    zone = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                 default=None, validators=[validate_name])
    pool = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                 default=None, validators=[validate_name])


class ChassisRequestSerializer(serializers.Serializer):
    """What was asked (never the password) and which rack runs the discovery."""

    request_id = serializers.CharField()
    chassis_type = serializers.CharField()
    hostname = serializers.CharField()
    rack = serializers.CharField()
    prefix_filter = serializers.CharField()
    accept_all = serializers.BooleanField()
    domain = serializers.CharField()
    zone = serializers.CharField(help_text="empty: the machines' default zone")
    pool = serializers.CharField(help_text="empty: the machines' default pool")
