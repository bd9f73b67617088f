"""Top-level URLs: health check, web pages, admin, REST API v1 (root, schema, docs; apps by name
only)."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from maasproject.api.root import ApiRootView
from maasproject.health import healthz
from maasproject.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # load balancers (HAProxy): README
    path("metrics", metrics_view, name="metrics"),  # Prometheus: maasproject/metrics.py
    path("", include("nodes.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", ApiRootView.as_view(), name="api-root"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("zones.api.urls")),
    path("api/v1/", include("nodes.api.urls")),
    path("api/v1/", include("power.api.urls")),
    path("", include("maasapi.urls")),  # /MAAS/api/2.0/, /MAAS/accounts/authenticate/
]

# A URL that no pattern matches answers JSON under /api/, like every API view.
handler404 = "maasproject.api.errors.page_not_found"
