"""nodes/{system_id}/interfaces/: a machine's interfaces with their links, and the link
operations Terraform's maas_instance uses (link_subnet, unlink_subnet, disconnect,
set_default_gateway), on nodes.services.links."""
from maasapi.errors import BadRequest, NotFound
from maasapi.framework import Handler, operation
from maasapi.handlers.machine_input import visible_machine
from maasapi.handlers.network_input import field_subnet
from maasapi.objects import machine_object
from nodes.models import Interface
from nodes.services import links


class InterfacesHandler(Handler):
    """Manage the interfaces of a node."""

    name = "InterfacesHandler"
    path = "nodes/{system_id}/interfaces/"

    def read(self, request, params, system_id):
        """List the node's interfaces with their links."""
        return machine_object(visible_machine(request.user, system_id))["interface_set"]


class InterfaceHandler(Handler):
    """Manage an interface of a node."""

    name = "InterfaceHandler"
    path = "nodes/{system_id}/interfaces/{id}/"

    def read(self, request, params, system_id, id):
        """Read an interface."""
        return _interface_object(request.user, system_id, id)

    @operation(idempotent=False)
    def link_subnet(self, request, params, system_id, id):
        """Link the interface to a subnet: AUTO gets an address at deploy, STATIC now.

        :param mode: AUTO, DHCP, STATIC or LINK_UP.
        :type mode: String
        :param subnet: The subnet's id or CIDR (not for LINK_UP).
        :type subnet: String
        :param ip_address: STATIC only: the address (default: the lowest free one).
        :type ip_address: String
        :param default_gateway: Make the subnet's gateway the default route.
        :type default_gateway: Boolean
        """
        interface = _interface(request.user, system_id, id)
        links.interface_link_subnet(
            interface, request.user, mode=params.text("mode"), subnet=field_subnet(params),
            ip_address=params.get("ip_address") or None,
            default_gateway=params.boolean("default_gateway"))
        return _interface_object(request.user, system_id, id)

    @operation(idempotent=False)
    def unlink_subnet(self, request, params, system_id, id):
        """Remove a link (its address is freed).

        :param id: The link's id.
        :type id: Int
        """
        link_id = params.integer("id")
        if link_id is None:
            raise BadRequest.fields({"id": ["This field is required."]})
        links.interface_unlink_subnet(_interface(request.user, system_id, id), request.user,
                                      link_id)
        return _interface_object(request.user, system_id, id)

    @operation(idempotent=False)
    def disconnect(self, request, params, system_id, id):
        """Remove every link of the interface and take it off its VLAN."""
        links.interface_disconnect(_interface(request.user, system_id, id), request.user)
        return _interface_object(request.user, system_id, id)

    @operation(idempotent=False)
    def set_default_gateway(self, request, params, system_id, id):
        """Make a link of this interface the machine's default IPv4 gateway.

        :param link_id: The link (default: the interface's only link with a gateway).
        :type link_id: Int
        """
        interface = _interface(request.user, system_id, id)
        links.machine_set_default_gateway(interface.machine, request.user,
                                          params.integer("link_id"), interface=interface)
        return _interface_object(request.user, system_id, id)


def _interface(user, system_id: str, interface_id: str) -> Interface:
    machine = visible_machine(user, system_id)
    interface = Interface.objects.filter(
        machine=machine, pk=int(interface_id) if interface_id.isdigit() else -1).first()
    if interface is None:
        raise NotFound("No Interface matches the given query.")
    return interface


def _interface_object(user, system_id: str, interface_id: str) -> dict:
    interface = _interface(user, system_id, interface_id)
    return next(i for i in machine_object(interface.machine)["interface_set"]
                if i["id"] == interface.id)
