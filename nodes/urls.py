"""Web pages: login, the dashboard, machines and images (each view module owns its routes)."""
from django.contrib.auth import views as auth_views
from django.urls import include, path

from nodes.views.dashboard import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("nodes.views.machine_list")),
    path("", include("nodes.views.machine_page")),
    path("", include("nodes.views.images")),
    path("", include("zones.views")),
]
