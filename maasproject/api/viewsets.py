"""A CRUD viewset whose writes go through typed services: the base every app's CRUD API shares."""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import viewsets

from maasproject.api.permissions import IsAdminOrReadOnly


@dataclass(frozen=True)
class CrudServices:
    """The read and the three writes behind a CRUD endpoint.

    create(user, **fields); update(obj, user, **fields); delete(obj, user); list() -> the
    queryset (None when the viewset's get_queryset depends on the request).
    """

    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., Any]
    list: Callable[[], Any] | None = None


class ServiceViewSet(viewsets.ModelViewSet):
    """Everyone authenticated reads; admins write through `services` (a CrudServices)."""

    permission_classes = [IsAdminOrReadOnly]
    services: CrudServices

    def get_queryset(self):
        return self.services.list()

    def service_fields(self, serializer) -> dict:
        """The keyword arguments of the create and update services (validated data)."""
        return dict(serializer.validated_data)

    def perform_create(self, serializer):
        obj = self.services.create(self.request.user, **self.service_fields(serializer))
        serializer.instance = self.get_queryset().get(pk=obj.pk)

    def perform_update(self, serializer):
        obj = self.services.update(
            serializer.instance, self.request.user, **self.service_fields(serializer))
        serializer.instance = self.get_queryset().get(pk=obj.pk)

    def perform_destroy(self, instance):
        self.services.delete(instance, self.request.user)
