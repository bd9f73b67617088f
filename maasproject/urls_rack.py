"""The rack listener's URLs (REGION_LISTENER=rack): the rack API and the health check only.

Operator and metadata paths 404 here, so no burst of them can take this listener's workers
from heartbeats and boot decisions (README, "Processes and ports").
"""
from django.urls import include, path

from maasproject.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # a load balancer checks this listener too
    path("api/v1/rack/", include("zones.api.rack_urls")),
]

# As on the main listener: a URL that no pattern matches answers JSON under /api/.
handler404 = "maasproject.api.errors.page_not_found"
