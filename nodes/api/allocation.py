"""POST /machines/allocate/: parse MAAS-style constraints and allocate the best-fitting machine."""
import re

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from maasproject.api.fields import NameField, TextField
from nodes.api.serializers import MachineSerializer
from nodes.selectors import machines_visible_to
from nodes.selectors.allocation import AllocationConstraints
from nodes.services.allocation import machine_allocate


class NameListField(serializers.ListField):
    """A list of names given as a JSON list, repeated form fields or a comma-separated string."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("child", NameField(max_length=256))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> tuple[str, ...]:
        if isinstance(data, str):
            data = [data]
        items = super().to_internal_value(data)
        names = [name for item in items for name in re.split(r"[,\s]+", item) if name]
        return tuple(dict.fromkeys(names))


class AllocateParams(serializers.Serializer):
    """Allocation constraints (MAAS names), dry_run and a comment for the Event."""

    name = NameField(required=False, default="", max_length=63)
    system_id = NameField(required=False, default="", max_length=16)
    arch = NameListField()
    cpu_count = serializers.IntegerField(required=False, min_value=0, allow_null=True)
    mem = serializers.IntegerField(required=False, min_value=0, allow_null=True,
                                   help_text="Minimum memory in MiB.")
    tags = NameListField()
    not_tags = NameListField()
    zone = NameField(required=False, default="", max_length=256)
    not_in_zone = NameListField()
    pool = NameField(required=False, default="", max_length=256)
    not_in_pool = NameListField()
    dry_run = serializers.BooleanField(required=False, default=False)
    comment = TextField(required=False, default="", allow_blank=True)

    def constraints(self) -> AllocationConstraints:
        """Return the validated constraints as the service's dataclass."""
        data = {k: v for k, v in self.validated_data.items() if k not in ("dry_run", "comment")}
        return AllocationConstraints(**data)


class AllocateView(APIView):
    """Allocate a Ready machine matching the constraints to the requesting user."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=AllocateParams, responses=MachineSerializer, operation_id="allocate")
    def post(self, request):
        params = AllocateParams(data=request.data)
        params.is_valid(raise_exception=True)
        machine = machine_allocate(
            request.user, params.constraints(),
            dry_run=params.validated_data["dry_run"], comment=params.validated_data["comment"],
        )
        body = MachineSerializer(machines_visible_to(request.user).get(pk=machine.pk)).data
        return Response(body)


urlpatterns = [
    path("machines/allocate/", AllocateView.as_view(), name="machine-allocate"),
]
