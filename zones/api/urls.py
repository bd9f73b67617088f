"""Zones API URLs: zones, pools, fabrics, VLANs, subnets, IP ranges, static IPs, racks."""
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from zones.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("zones", views.ZoneViewSet, basename="zone")
router.register("pools", views.PoolViewSet, basename="pool")
router.register("fabrics", views.FabricViewSet, basename="fabric")
router.register("vlans", views.VLANViewSet, basename="vlan")
router.register("subnets", views.SubnetViewSet, basename="subnet")
router.register("ipranges", views.IPRangeViewSet, basename="iprange")
router.register("static-ips", views.StaticIPViewSet, basename="static-ip")
router.register("racks", views.RackViewSet, basename="rack")

urlpatterns = router.urls
urlpatterns += [path("rack/", include("zones.api.rack_urls"))]
