"""Top-level URLs: dashboard, admin, REST API v1 with its schema and docs."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from nodes.views import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("zones.api.urls")),
    path("api/v1/", include("nodes.api.urls")),
    path("api/v1/", include("power.api.urls")),
]
