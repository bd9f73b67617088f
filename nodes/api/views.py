"""Views for machines (CRUD and lifecycle actions), interfaces, block devices, tags, events."""
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from maasproject.api.permissions import IsAdmin, IsAdminOrReadOnly
from nodes.api import serializers as s
from nodes.api.filtersets import EventFilter, MachineFilter
from nodes.api.machine_actions import MachineActionsMixin
from nodes.models import InterfaceLink, Tag
from nodes.selectors import events_visible_to, load_hardware, machines_visible_to
from nodes.services import actions, machines, storage, tags
from power.services.parameters import machine_power_parameters


class MachineViewSet(MachineActionsMixin, viewsets.ModelViewSet):
    """Machines: list, create, read, update, delete, and lifecycle actions."""

    lookup_field = "system_id"
    filterset_class = MachineFilter
    serializer_class = s.MachineSerializer

    def get_queryset(self):
        return machines_visible_to(self.request.user).order_by("hostname")

    def machine_body(self, pk: int) -> dict:
        """Serialize a machine freshly read from the database (after a write)."""
        return s.MachineSerializer(self.get_queryset().get(pk=pk)).data

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        machines = load_hardware(list(page))
        return self.get_paginated_response(s.MachineSerializer(machines, many=True).data)

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return s.MachineWriteSerializer
        return s.MachineSerializer

    @extend_schema(responses=s.MachineSerializer)
    def create(self, request, *args, **kwargs):
        serializer = s.MachineWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        machine = machines.machine_create(request.user, **serializer.validated_data)
        body = self.machine_body(machine.pk)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.MachineSerializer)
    def update(self, request, *args, **kwargs):
        machine = self.get_object()
        serializer = s.MachineWriteSerializer(
            machine, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.pop("mac_addresses", None):
            return Response(
                {"mac_addresses": ["Add interfaces through /interfaces/."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        machines.machine_update(machine.system_id, request.user, **data)
        return Response(self.machine_body(machine.pk))

    @extend_schema(responses=s.MachineSerializer)
    def partial_update(self, request, *args, **kwargs):
        # Declared for the schema: a PATCH answers the machine as it reads, like a PUT.
        return super().partial_update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        machine = self.get_object()
        actions.machine_delete(machine.system_id, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="power-parameters",
            permission_classes=[IsAdmin])
    def power_parameters(self, request, system_id=None):
        """The machine's power parameters without their secrets (admins only)."""
        machine = self.get_object()
        return Response({"power_type": machine.power_type,
                         "power_parameters": machine_power_parameters(machine)})


    @extend_schema(request=s.StorageLayoutParams, responses=s.MachineSerializer)
    @action(detail=True, methods=["post"], url_path="storage-layout")
    def storage_layout(self, request, system_id=None):
        """Choose how a deploy partitions the boot disk (flat or lvm) and, optionally, which
        disk that is (the owner or an admin, before deploying)."""
        machine = self.get_object()
        params = s.StorageLayoutParams(data=request.data)
        params.is_valid(raise_exception=True)
        storage.machine_set_storage_layout(machine.system_id, request.user,
                                           **params.validated_data)
        return Response(self.machine_body(machine.pk))


class _MachinePartViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Shared shape of a machine's interfaces and block devices."""

    pagination_class = None
    related_name = ""
    create_service = None
    delete_service = None

    def machine(self):
        return get_object_or_404(
            machines_visible_to(self.request.user), system_id=self.kwargs["system_id"]
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return self.serializer_class.Meta.model.objects.none()
        return getattr(self.machine(), self.related_name).all()

    def create(self, request, system_id=None):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj = type(self).create_service(self.machine(), request.user, **serializer.validated_data)
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, system_id=None, pk=None):
        type(self).delete_service(self.get_object(), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InterfaceViewSet(_MachinePartViewSet):
    """A machine's network interfaces."""

    serializer_class = s.InterfaceSerializer
    related_name = "interfaces"
    create_service = staticmethod(machines.interface_create)
    delete_service = staticmethod(machines.interface_delete)

    def get_queryset(self):
        return super().get_queryset().prefetch_related(Prefetch(
            "links", queryset=InterfaceLink.objects.select_related("address", "subnet")))


class BlockDeviceViewSet(_MachinePartViewSet):
    """A machine's block devices."""

    serializer_class = s.BlockDeviceSerializer
    related_name = "block_devices"
    create_service = staticmethod(machines.block_device_create)
    delete_service = staticmethod(machines.block_device_delete)


class TagViewSet(viewsets.ModelViewSet):
    """Tags: everyone reads, admins write."""

    serializer_class = s.TagSerializer
    permission_classes = [IsAdminOrReadOnly]
    lookup_field = "name"

    def get_queryset(self):
        return Tag.objects.annotate(machine_count=Count("machines")).order_by("name")

    # Answers are read back through get_queryset: machine_count is its annotation.
    def perform_create(self, serializer):
        tag = tags.tag_create(self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=tag.pk)

    def perform_update(self, serializer):
        tag = tags.tag_update(serializer.instance, self.request.user,
                              **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=tag.pk)

    def perform_destroy(self, instance):
        tags.tag_delete(instance, self.request.user)


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """Events, newest first; filter by machine, hostname, type, level and time."""

    serializer_class = s.EventSerializer
    filterset_class = EventFilter

    def get_queryset(self):
        return events_visible_to(self.request.user)
