"""rackcontrollers/ (racks as MAAS node objects, describe_power_types) and regioncontrollers/.

Region processes are stateless and share the database: none is registered as an object, so
regioncontrollers/ lists none (clients only list it).
"""
from maasapi.errors import NotFound
from maasapi.framework import Handler, operation
from maasapi.objects import DOMAIN
from power.drivers.registry import get_registry
from zones.models import RackController, Zone

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
        "service_set": [{"name": name, "status": state}
                        for name, state in sorted((rack.services or {}).items())],
        "resource_uri": RackControllerHandler.uri(system_id=rack.system_id),
    }


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


class RackControllerHandler(Handler):
    """Manage a rack controller."""

    name = "RackControllerHandler"
    path = "rackcontrollers/{system_id}/"

    def read(self, request, params, system_id):
        """Read a rack controller."""
        rack = RackController.objects.filter(system_id=system_id).first()
        if rack is None:
            raise NotFound("No RackController matches the given query.")
        return rack_object(rack, _default_zone())


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
