"""Nodes API URLs: machines, actions, interfaces and their links, tags, events, allocation,
accounts, scripts, metadata."""
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from nodes.api import (
    accounts,
    allocation,
    bootresources,
    config,
    links,
    metadata,
    metadata_deploy,
    metadata_jobs,
    scripts,
    views,
)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("machines", views.MachineViewSet, basename="machine")
router.register("tags", views.TagViewSet, basename="tag")
router.register("events", views.EventViewSet, basename="event")

urlpatterns = [
    *allocation.urlpatterns,  # before machines/{system_id}/ so "allocate" is not an id
    *accounts.urlpatterns,
    *bootresources.urlpatterns,
    *config.urlpatterns,
    *scripts.urlpatterns,
    *metadata.urlpatterns,
    *metadata_deploy.urlpatterns,
    *metadata_jobs.urlpatterns,
    *links.urlpatterns,
    path(
        "machines/<str:system_id>/interfaces/",
        views.InterfaceViewSet.as_view({"get": "list", "post": "create"}),
        name="machine-interface-list",
    ),
    path(
        "machines/<str:system_id>/interfaces/<int:pk>/",
        views.InterfaceViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="machine-interface-detail",
    ),
    path(
        "machines/<str:system_id>/block-devices/",
        views.BlockDeviceViewSet.as_view({"get": "list", "post": "create"}),
        name="machine-blockdevice-list",
    ),
    path(
        "machines/<str:system_id>/block-devices/<int:pk>/",
        views.BlockDeviceViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="machine-blockdevice-detail",
    ),
    path("", include(router.urls)),
]
