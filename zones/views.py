"""Web pages of racks and subnets (session login; every authenticated user reads them, as in
the API)."""
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import path

from zones.models import Subnet
from zones.selectors import racks_overview, subnet_detail, subnets_overview


@login_required
def rack_list(request):
    """Each rack: status, last heartbeat, services, VLANs it serves and its image-cache sync."""
    context = {"racks": racks_overview(), "dead_after": settings.RACK_DEAD_AFTER}
    return render(request, "zones/racks.html", context)


@login_required
def subnet_list(request):
    """Fabrics, their VLANs and subnets with ranges and address usage."""
    return render(request, "zones/subnets.html", {"fabrics": subnets_overview()})


@login_required
def subnet_page(request, subnet_id: int):
    """One subnet: usage, ranges, the static addresses the user may see, leases (admins)."""
    subnet = get_object_or_404(Subnet.objects.select_related(
        "vlan__fabric", "vlan__primary_rack", "vlan__secondary_rack"), pk=subnet_id)
    return render(request, "zones/subnet.html", subnet_detail(subnet, request.user))


urlpatterns = [
    path("racks/", rack_list, name="console-rack-list"),
    path("subnets/", subnet_list, name="console-subnet-list"),
    path("subnets/<int:subnet_id>/", subnet_page, name="console-subnet-detail"),
]
