"""Power API URLs."""
from django.urls import path

from power.api.views import PowerTypesView

urlpatterns = [path("power-types/", PowerTypesView.as_view(), name="power-types")]
