"""fabrics/ and their VLANs (fabrics/{fabric_id}/vlans/): read, create, update and delete, on
the zones network services (subnets/: maasapi.handlers.subnets)."""
from maasapi.framework import Handler
from maasapi.handlers.network_input import (
    fabric_fields,
    path_fabric,
    path_vlan,
    path_vlan_id,
    vlan_fields,
)
from maasapi.objects import VLAN_RELATED, vlan_object
from zones.models import Fabric
from zones.services import networks


def fabric_object(fabric: Fabric) -> dict:
    """A fabric with its VLANs."""
    vlans = fabric.vlans.select_related(*VLAN_RELATED).order_by("vid")
    return {"id": fabric.id, "name": fabric.name, "description": fabric.description,
            "class_type": None, "vlans": [vlan_object(vlan) for vlan in vlans],
            "resource_uri": FabricHandler.uri(id=fabric.id)}


class FabricsHandler(Handler):
    """Manage fabrics."""

    name = "FabricsHandler"
    path = "fabrics/"

    def read(self, request, params):
        """List fabrics with their VLANs."""
        return [fabric_object(fabric) for fabric in Fabric.objects.order_by("id")]

    def create(self, request, params):
        """Create a fabric with its untagged VLAN (administrators).

        :param name: The name of the fabric (required).
        :type name: String
        :param description: A description of the fabric.
        :type description: String
        :param class_type: Accepted and ignored: fabrics have no class here.
        :type class_type: String
        """
        fields = {"name": "", **fabric_fields(params)}
        return fabric_object(networks.fabric_create(request.user, **fields))


class FabricHandler(Handler):
    """Manage a fabric (by id or name)."""

    name = "FabricHandler"
    path = "fabrics/{id}/"

    def read(self, request, params, id):
        """Read a fabric."""
        return fabric_object(path_fabric(id))

    def update(self, request, params, id):
        """Update a fabric (administrators).

        :param name: The new name of the fabric.
        :type name: String
        :param description: The new description of the fabric.
        :type description: String
        :param class_type: Accepted and ignored: fabrics have no class here.
        :type class_type: String
        """
        return fabric_object(networks.fabric_update(path_fabric(id), request.user,
                                                    **fabric_fields(params)))

    def delete(self, request, params, id):
        """Delete a fabric and its VLANs (administrators); refused (409) while they have
        subnets."""
        networks.fabric_delete(path_fabric(id), request.user)


VLAN_PARAMS = """
:param vid: The VLAN id, 0 to 4094.
:type vid: Int
:param name: The name of the VLAN.
:type name: String
:param mtu: The MTU of the VLAN (552 to 65535; default 1500).
:type mtu: Int
:param dhcp_on: Whether the region serves DHCP on the VLAN (needs a primary rack).
:type dhcp_on: Boolean
:param primary_rack: The system_id of the rack controller serving DHCP (empty: none).
:type primary_rack: String
:param secondary_rack: The system_id of the standby rack controller (empty: none).
:type secondary_rack: String
:param relay_vlan: The id of the VLAN whose DHCP this VLAN relays to (empty: none).
:type relay_vlan: Int
:param description: Accepted and ignored: VLANs have no description here.
:type description: String
:param space: Accepted and ignored: there are no spaces here.
:type space: String
"""


class VlansHandler(Handler):
    """Manage the VLANs of a fabric."""

    name = "VlansHandler"
    path = "fabrics/{fabric_id}/vlans/"

    def read(self, request, params, fabric_id):
        """List the fabric's VLANs."""
        fabric = path_fabric(fabric_id)
        return [vlan_object(vlan) for vlan in
                fabric.vlans.select_related(*VLAN_RELATED).order_by("vid")]

    def create(self, request, params, fabric_id):
        fabric = path_fabric(fabric_id)
        fields = {"vid": None, **vlan_fields(params)}  # the service says when vid is missing
        return vlan_object(networks.vlan_create(request.user, fabric=fabric, **fields))

    create.__doc__ = "Create a VLAN on the fabric (administrators; vid required).\n" + VLAN_PARAMS


class VlanHandler(Handler):
    """Manage a VLAN of a fabric."""

    name = "VlanHandler"
    path = "fabrics/{fabric_id}/vlans/{vid}/"

    def read(self, request, params, fabric_id, vid):
        """Read a VLAN."""
        return vlan_object(path_vlan(fabric_id, vid))

    def update(self, request, params, fabric_id, vid):
        vlan = networks.vlan_update(path_vlan(fabric_id, vid), request.user,
                                    **vlan_fields(params))
        return vlan_object(vlan)

    update.__doc__ = "Update a VLAN (administrators); what is not given is kept.\n" + VLAN_PARAMS

    def delete(self, request, params, fabric_id, vid):
        """Delete a VLAN (administrators); a fabric's untagged VLAN (400) and a VLAN with
        subnets (409) are refused."""
        networks.vlan_delete(path_vlan(fabric_id, vid), request.user)


class VlanByIdHandler(VlanHandler):
    """Manage a VLAN by its id (MAAS's vlans/{vlan_id}/; objects still name the fabric path)."""

    name = "VlanByIdHandler"
    path = "vlans/{vlan_id}/"

    def read(self, request, params, vlan_id):
        """Read a VLAN."""
        return vlan_object(path_vlan_id(vlan_id))

    def update(self, request, params, vlan_id):
        return vlan_object(networks.vlan_update(path_vlan_id(vlan_id), request.user,
                                                **vlan_fields(params)))

    update.__doc__ = VlanHandler.update.__doc__

    def delete(self, request, params, vlan_id):
        """Delete a VLAN (administrators); as fabrics/{fabric_id}/vlans/{vid}/."""
        networks.vlan_delete(path_vlan_id(vlan_id), request.user)
