"""Nodes web pages: the dashboard."""
from django.urls import path

from nodes.views import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
]
