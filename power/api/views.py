"""Power API: the registered power types and their parameter schemas; adding a chassis."""
from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from maasproject.api.permissions import IsAdmin
from power.api.serializers import (
    ChassisAddSerializer,
    ChassisRequestSerializer,
    PowerTypeSerializer,
)
from power.drivers.registry import get_registry
from power.services.chassis import chassis_add


class PowerTypesView(APIView):
    """GET /api/v1/power-types/: every driver with its settings schema, for forms and CLIs."""

    @extend_schema(responses=PowerTypeSerializer(many=True))
    def get(self, request):
        return Response([driver.describe() for driver in get_registry().all()])


class ChassisView(APIView):
    """POST /api/v1/chassis/ (administrators): a rack discovers the chassis' systems and each
    new one becomes a machine; 202 with what was asked and which rack runs it."""

    permission_classes = [IsAdmin]

    @extend_schema(request=ChassisAddSerializer, responses={202: ChassisRequestSerializer})
    def post(self, request):
        serializer = ChassisAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        chassis = chassis_add(request.user, data.pop("chassis_type"), data.pop("hostname"),
                              data.pop("username"), data.pop("password"), **data)
        return Response(ChassisRequestSerializer(asdict(chassis)).data,
                        status=status.HTTP_202_ACCEPTED)
