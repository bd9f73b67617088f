"""boot-resources/: list, read and delete boot resources; import, is_importing, stop_import.

`import` builds the ephemeral image from Debian packages on a region worker (the task behind
`manage.py import_boot_images`, nodes.services.bootimport); is_importing is true while an
import runs anywhere in the cluster. Deployable images are uploaded through /api/v1/.
"""
from maasapi.framework import Handler, operation
from maasapi.handlers.network_input import path_object
from maasapi.views import render_text
from nodes.models import BootResource
from nodes.services.bootimport import boot_import_running, boot_import_start, boot_import_stop
from nodes.services.bootresources import boot_resource_delete


def boot_resource_object(resource: BootResource) -> dict:
    """A boot resource as MAAS shows it."""
    return {"id": resource.id, "type": "Uploaded" if resource.origin == "uploaded" else "Synced",
            "name": resource.name, "architecture": resource.architecture,
            "title": resource.title or resource.name, "subarches": "generic",
            "resource_uri": BootResourceHandler.uri(id=resource.id)}


class BootResourcesHandler(Handler):
    """Manage the boot resources."""

    name = "BootResourcesHandler"
    path = "boot-resources/"

    def read(self, request, params):
        """List boot resources.

        :param type: Accepted for compatibility: every resource is listed.
        :type type: String
        """
        return [boot_resource_object(r) for r in BootResource.objects.order_by("name")]

    @operation(idempotent=False, name="import")
    def import_(self, request, params):
        """Import the boot resources (administrators): build the ephemeral image from Debian
        packages on a region worker and register it, unless an import already runs."""
        boot_import_start(request.user)
        return render_text("Import of boot resources started")

    @operation(idempotent=True)
    def is_importing(self, request, params):
        """Whether an import of boot resources runs anywhere in the cluster."""
        return boot_import_running()

    @operation(idempotent=False)
    def stop_import(self, request, params):
        """Stop the running import of boot resources (administrators); the build stops at its
        next step and the previous image stays."""
        boot_import_stop(request.user)
        return render_text("Import of boot resources is being stopped")


class BootResourceHandler(Handler):
    """Manage a boot resource."""

    name = "BootResourceHandler"
    path = "boot-resources/{id}/"

    def read(self, request, params, id):
        """Read a boot resource."""
        return boot_resource_object(_resource(id))

    def delete(self, request, params, id):
        """Delete a boot resource and its files (administrators)."""
        boot_resource_delete(request.user, _resource(id))


def _resource(resource_id: str) -> BootResource:
    return path_object(BootResource.objects, resource_id, "BootResource")
