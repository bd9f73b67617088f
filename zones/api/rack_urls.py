"""Rack API URLs, included under /api/v1/rack/."""
from django.urls import path

from zones.api import rack_api, rack_images

urlpatterns = [
    path("register/", rack_api.RegisterView.as_view(), name="rack-register"),
    path("heartbeat/", rack_api.HeartbeatView.as_view(), name="rack-heartbeat"),
    path("config/", rack_api.ConfigView.as_view(), name="rack-config"),
    path("boot/<str:mac>/", rack_api.BootView.as_view(), name="rack-boot"),
    path("leases/", rack_api.LeasesView.as_view(), name="rack-leases"),
    path("events/", rack_api.EventsView.as_view(), name="rack-events"),
]

urlpatterns += [
    path("images/", rack_images.ImageManifestView.as_view(), name="rack-images"),
    path("images/progress/", rack_images.ImageProgressView.as_view(),
         name="rack-images-progress"),
    path("images/<path:path>", rack_images.ImageFileView.as_view(), name="rack-image-file"),
]
