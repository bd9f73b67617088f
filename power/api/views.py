"""Power API: the registered power types and their parameter schemas."""
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from power.api.serializers import PowerTypeSerializer
from power.drivers.registry import get_registry


class PowerTypesView(APIView):
    """GET /api/v1/power-types/: every driver with its settings schema, for forms and CLIs."""

    @extend_schema(responses=PowerTypeSerializer(many=True))
    def get(self, request):
        return Response([driver.describe() for driver in get_registry().all()])
