"""Region configuration API: everyone reads it, administrators change it (all names or none)."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from maasproject.api.fields import StrictBooleanField, StrictCharField
from nodes.services.config import config_all, config_update


class ConfigSerializer(serializers.Serializer):
    """The configuration names MAAS clients touch (nodes.services.config says what each does)."""

    maas_name = StrictCharField(allow_blank=True)
    default_osystem = StrictCharField(allow_blank=True)
    default_distro_series = StrictCharField(allow_blank=True)
    commissioning_distro_series = StrictCharField(allow_blank=True)
    enable_disk_erasing_on_release = StrictBooleanField()
    default_min_hwe_kernel = StrictCharField(allow_blank=True)


class ConfigView(APIView):
    """GET: every configuration value. PATCH (administrators): set the names given."""

    @extend_schema(responses={200: ConfigSerializer})
    def get(self, request):
        return Response(config_all())

    @extend_schema(request=ConfigSerializer(partial=True), responses={200: ConfigSerializer})
    def patch(self, request):
        data = request.data
        values = data.dict() if hasattr(data, "dict") else data  # a form: one value a name
        if not isinstance(values, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
        # Types here (a string is a string), names and meanings in the service.
        ConfigSerializer(data=values, partial=True).is_valid(raise_exception=True)
        return Response(config_update(values, request.user))


urlpatterns = [path("config/", ConfigView.as_view(), name="config")]
