"""Power API serializers: the shape of GET /api/v1/power-types/ (for the OpenAPI schema)."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from power.drivers.base import FIELD_TYPES, SCOPES


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
