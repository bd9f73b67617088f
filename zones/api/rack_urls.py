"""Rack API URLs, included under /api/v1/rack/."""
from django.urls import path

from zones.api import rack_api

urlpatterns = [
    path("register/", rack_api.RegisterView.as_view(), name="rack-register"),
    path("heartbeat/", rack_api.HeartbeatView.as_view(), name="rack-heartbeat"),
    path("config/", rack_api.ConfigView.as_view(), name="rack-config"),
    path("boot/<str:mac>/", rack_api.BootView.as_view(), name="rack-boot"),
    path("leases/", rack_api.LeasesView.as_view(), name="rack-leases"),
    path("events/", rack_api.EventsView.as_view(), name="rack-events"),
]
