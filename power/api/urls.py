"""Power API URLs."""
from django.urls import path

from power.api.views import ChassisView, PowerTypesView

urlpatterns = [
    path("power-types/", PowerTypesView.as_view(), name="power-types"),
    path("chassis/", ChassisView.as_view(), name="chassis"),
]
