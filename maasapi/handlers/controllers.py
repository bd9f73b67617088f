"""rackcontrollers/ (racks as MAAS node objects, describe_power_types, boot images) and
regioncontrollers/.

Region processes are stateless and share the database: none is registered as an object, so
regioncontrollers/ lists none (clients only list it).

Boot images on racks: each rack syncs the region's whole boot-resource manifest into its cache
on its own, every RACK_IMAGE_SYNC_INTERVAL seconds (rack_worker.imagecache), and reports only
totals and a state; the region has no per-rack list of files and no rack-queue task that syncs
on demand. So list_boot_images answers from the region's boot resources and the rack's last
sync report (zones.selectors.rack_boot_images), and import_boot_images answers as MAAS does
without sending anything: the racks pick up a changed manifest at their next sync.
"""
from maasapi.framework import Handler, operation
from maasapi.handlers.network_input import path_object
from maasapi.objects import DOMAIN
from maasapi.views import render_text
from maasproject.permissions import require_admin
from power.drivers.registry import get_registry
from zones.models import RackController, Zone
from zones.selectors import rack_boot_images
from zones.services.bootfiles import boot_files

RACK_NODE_TYPE = 2


def rack_object(rack: RackController, zone: dict) -> dict:
    """A rack controller as a MAAS node object, with its services."""
    addresses = [address for interface in rack.interfaces or []
                 for address in interface.get("addresses", []) if isinstance(address, str)]
    return {
        "system_id": rack.system_id, "hostname": rack.name, "fqdn": f"{rack.name}.maas",
        "node_type": RACK_NODE_TYPE, "node_type_name": "Rack controller",
        "architecture": "amd64/generic", "cpu_count": 0, "memory": 0, "osystem": "",
        "distro_series": "", "power_state": "unknown", "power_type": "", "owner": None,
        "zone": zone, "pool": None, "domain": DOMAIN, "tag_names": [], "interface_set": [],
        "ip_addresses": [address.split("/")[0] for address in addresses],
        "version": rack.version, "status": rack.status,
        "service_set": service_set(rack),
        "resource_uri": RackControllerHandler.uri(system_id=rack.system_id),
    }


# MAAS's service names and statuses (running, degraded, dead, off, unknown) for ours.
SERVICE_NAMES = {"dhcp": "dhcpd"}
SERVICE_STATUSES = {"failed": "dead", "starting": "unknown"}


def service_set(rack: RackController) -> list[dict]:
    """The rack's services as MAAS lists them, with why one is not running (status_info)."""
    reasons = rack.service_reasons or {}
    return [{"name": SERVICE_NAMES.get(name, name),
             "status": SERVICE_STATUSES.get(state, state),
             "status_info": reasons.get(name, "")}
            for name, state in sorted((rack.services or {}).items())]


def _default_zone() -> dict:
    zone = Zone.get_default()
    return {"id": zone.id, "name": zone.name, "description": zone.description,
            "resource_uri": f"/MAAS/api/2.0/zones/{zone.name}/"}


class RackControllersHandler(Handler):
    """Manage the rack controllers."""

    name = "RackControllersHandler"
    path = "rackcontrollers/"

    def read(self, request, params):
        """List rack controllers.

        :param hostname: Only racks with this name (repeatable).
        :type hostname: String
        """
        racks = RackController.objects.order_by("name")
        if params.list("hostname"):
            racks = racks.filter(name__in=params.list("hostname"))
        zone = _default_zone()
        return [rack_object(rack, zone) for rack in racks]

    @operation(idempotent=True)
    def describe_power_types(self, request, params):
        """The power types and their settings the racks can drive."""
        return [driver.describe() for driver in get_registry().all()]

    @operation(idempotent=False)
    def import_boot_images(self, request, params):
        """Import the boot images on all rack controllers (administrators): racks sync the
        region's boot resources on their own, at their next sync."""
        require_admin(request.user, "import boot images on rack controllers")
        return render_text("Import of boot images started on all rack controllers")

    @operation(idempotent=True)
    def list_boot_images(self, request, params):
        """The boot images of every rack controller (administrators), as list_boot_images of
        one rack shows them, with the rack's system_id and hostname."""
        require_admin(request.user, "list the boot images of rack controllers")
        files = boot_files()
        return [{"system_id": rack.system_id, "hostname": rack.name,
                 **rack_boot_images(rack, files)}
                for rack in RackController.objects.order_by("name")]


class RackControllerHandler(Handler):
    """Manage a rack controller."""

    name = "RackControllerHandler"
    path = "rackcontrollers/{system_id}/"

    def read(self, request, params, system_id):
        """Read a rack controller."""
        return rack_object(_rack(system_id), _default_zone())

    @operation(idempotent=False)
    def import_boot_images(self, request, params, system_id):
        """Import the boot images on this rack controller (administrators): it syncs the
        region's boot resources on its own, at its next sync."""
        require_admin(request.user, "import boot images on rack controllers")
        return render_text(f"Import of boot images started on {_rack(system_id).name}")

    @operation(idempotent=True)
    def list_boot_images(self, request, params, system_id):
        """The rack's boot images and whether they are in sync with the region
        (administrators): {images: [{name, architecture, subarches}], connected, status}."""
        require_admin(request.user, "list the boot images of rack controllers")
        return rack_boot_images(_rack(system_id))


def _rack(system_id: str) -> RackController:
    return path_object(RackController.objects, system_id, "RackController", by="system_id",
                       ids=False)


class RegionControllersHandler(Handler):
    """The region controllers (stateless processes here: none is an object)."""

    name = "RegionControllersHandler"
    path = "regioncontrollers/"

    def read(self, request, params):
        """List region controllers: always empty (see the module docstring).

        :param hostname: Accepted for compatibility.
        :type hostname: String
        """
        return []
