"""Web pages of boot images: resources, the racks' copies, and the import (admins start it)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from maasproject.backends import BROKER_ERRORS
from maasproject.errors import ServiceError
from maasproject.permissions import is_admin
from nodes.selectors.images import images_overview, import_overview
from nodes.services.bootimport import boot_import_start


@login_required
def image_list(request):
    """Boot resources with their files and per-rack sync, and the current or last import."""
    context = {"images": images_overview(), "boot_import": import_overview(),
               "can_import": is_admin(request.user)}
    return render(request, "nodes/images.html", context)


@login_required
@require_POST
def image_import(request):
    """Start a boot image import (the service refuses non-admins); back to the images page."""
    try:
        started = boot_import_start(request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    except BROKER_ERRORS:
        messages.error(request, "Message broker unavailable: the import was not started.")
    else:
        if started:
            messages.success(request, "Import of boot images started.")
        else:
            messages.error(request, "An import is already running.")
    return redirect("console-image-list")


urlpatterns = [
    path("images/", image_list, name="console-image-list"),
    path("images/import/", image_import, name="console-image-import"),
]
