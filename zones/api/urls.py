"""Zones API URLs."""
urlpatterns = []
