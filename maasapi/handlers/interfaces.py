"""nodes/{system_id}/interfaces/: a machine's interfaces with their links; creating physical,
bond, bridge and VLAN interfaces, updating and deleting them (nodes.services.interfaces); the
link operations Terraform's maas_instance uses (link_subnet, unlink_subnet, disconnect,
set_default_gateway), on nodes.services.links."""
from maasapi.errors import BadRequest, NotFound
from maasapi.framework import Handler, operation
from maasapi.handlers.machine_input import visible_machine
from maasapi.handlers.network_input import (
    field_interface_ids,
    field_subnet,
    field_vlan,
    interface_options,
)
from maasapi.objects import machine_object
from nodes.models import Interface, Machine
from nodes.services import interfaces, links


class InterfacesHandler(Handler):
    """Manage the interfaces of a node."""

    name = "InterfacesHandler"
    path = "nodes/{system_id}/interfaces/"

    def read(self, request, params, system_id):
        """List the node's interfaces with their links."""
        return machine_object(visible_machine(request.user, system_id))["interface_set"]

    @operation(idempotent=False)
    def create_physical(self, request, params, system_id):
        """Create a physical interface (administrators; Ready, Allocated, Broken...).

        :param mac_address: Required: its MAC address (unique).
        :type mac_address: String
        :param name: Its name (default: the next free ethN).
        :type name: String
        :param vlan: The id of the untagged VLAN it is on (default: disconnected).
        :type vlan: Int
        :param enabled: Whether it is enabled (default: true).
        :type enabled: Boolean
        :param mtu: Maximum transmission unit (552 to 65535).
        :type mtu: Int
        """
        machine = _admin_machine(request.user, system_id)
        created = interfaces.interface_create_physical(
            machine.pk, request.user, mac_address=params.text("mac_address").strip(),
            name=params.text("name").strip(), vlan=field_vlan(params),
            mtu=params.integer("mtu"), enabled=params.boolean("enabled", True))
        return _object(machine, created.pk)

    @operation(idempotent=False)
    def create_bond(self, request, params, system_id):
        """Create a bond of physical interfaces; their links are removed (link the bond).

        :param parents: Required, repeatable: the ids of the interfaces that make the bond.
        :type parents: Int
        :param name: Its name (default: the next free bondN).
        :type name: String
        :param mac_address: Its MAC address (default: its first parent's).
        :type mac_address: String
        :param vlan: The id of its VLAN (default: its parents', which must all be on it).
        :type vlan: Int
        :param bond_mode: balance-rr, active-backup (default), balance-xor, broadcast,
            802.3ad, balance-tlb or balance-alb.
        :type bond_mode: String
        :param bond_miimon: Link monitoring frequency in ms (default 100).
        :type bond_miimon: Int
        :param bond_downdelay: ms to wait before disabling a failed member (default 0).
        :type bond_downdelay: Int
        :param bond_updelay: ms to wait before enabling a recovered member (default 0).
        :type bond_updelay: Int
        :param bond_lacp_rate: fast or slow (default), for 802.3ad.
        :type bond_lacp_rate: String
        :param bond_xmit_hash_policy: layer2 (default), layer2+3, layer3+4, encap2+3 or
            encap3+4.
        :type bond_xmit_hash_policy: String
        :param bond_num_grat_arp: Peer notifications after a failover, 0-255 (default 1).
        :type bond_num_grat_arp: Int
        :param mtu: Maximum transmission unit (552 to 65535).
        :type mtu: Int
        """
        machine = _admin_machine(request.user, system_id)
        created = interfaces.interface_create_bond(
            machine.pk, request.user, parents=field_interface_ids(params, "parents", "parent"),
            name=params.text("name").strip(), mac_address=params.text("mac_address").strip(),
            vlan=field_vlan(params), mtu=params.integer("mtu"),
            options=interface_options(params, interfaces.BOND_OPTIONS))
        return _object(machine, created.pk)

    @operation(idempotent=False)
    def create_bridge(self, request, params, system_id):
        """Create a bridge over an interface; the parent's links move to the bridge.

        :param parent: Required: the id of the interface it bridges.
        :type parent: Int
        :param name: Its name (default: the next free brN).
        :type name: String
        :param mac_address: Its MAC address (default: its parent's).
        :type mac_address: String
        :param vlan: The id of its VLAN (default: its parent's).
        :type vlan: Int
        :param bridge_stp: Spanning tree protocol on or off (default false).
        :type bridge_stp: Boolean
        :param bridge_fd: Forward delay in seconds (default 15).
        :type bridge_fd: Int
        :param mtu: Maximum transmission unit (552 to 65535).
        :type mtu: Int
        """
        machine = _admin_machine(request.user, system_id)
        created = interfaces.interface_create_bridge(
            machine.pk, request.user, parent=field_interface_ids(params, "parent", "parents"),
            name=params.text("name").strip(), mac_address=params.text("mac_address").strip(),
            vlan=field_vlan(params), mtu=params.integer("mtu"),
            options=interface_options(params, interfaces.BRIDGE_OPTIONS))
        return _object(machine, created.pk)

    @operation(idempotent=False)
    def create_vlan(self, request, params, system_id):
        """Create a VLAN interface <parent>.<vid> for a tagged VLAN of the parent's fabric.

        :param parent: Required: the id of the interface it is on.
        :type parent: Int
        :param vlan: Required: the id of the tagged VLAN.
        :type vlan: Int
        :param mtu: Maximum transmission unit (552 to 65535).
        :type mtu: Int
        """
        machine = _admin_machine(request.user, system_id)
        created = interfaces.interface_create_vlan(
            machine.pk, request.user, parent=field_interface_ids(params, "parent", "parents"),
            vlan=field_vlan(params), mtu=params.integer("mtu"))
        return _object(machine, created.pk)


class InterfaceHandler(Handler):
    """Manage an interface of a node."""

    name = "InterfaceHandler"
    path = "nodes/{system_id}/interfaces/{id}/"

    def read(self, request, params, system_id, id):
        """Read an interface."""
        return _interface_object(request.user, system_id, id)

    def update(self, request, params, system_id, id):
        """Update an interface (administrators or the owner); what is not given is kept.

        :param name: Its new name (not for a VLAN interface: <parent>.<vid>).
        :type name: String
        :param mac_address: Its MAC address (bond, bridge: empty for the first parent's).
        :type mac_address: String
        :param vlan: The id of its VLAN; empty disconnects it. Links on others are removed.
        :type vlan: Int
        :param mtu: Maximum transmission unit (552 to 65535).
        :type mtu: Int
        :param enabled: Whether it is enabled.
        :type enabled: Boolean
        :param bond_mode: Bonds: the bond_* options of create_bond.
        :type bond_mode: String
        :param bridge_stp: Bridges: bridge_stp and bridge_fd, as in create_bridge.
        :type bridge_stp: Boolean
        """
        interface = _interface(request.user, system_id, id)
        interfaces.interface_update(
            interface.pk, request.user, name=params.get("name"),
            mac_address=params.get("mac_address"),
            vlan=field_vlan(params) if "vlan" in params else interfaces.KEEP,
            mtu=params.integer("mtu"), enabled=params.boolean("enabled", None),
            options=interface_options(params, interfaces.OPTIONS.get(interface.type, {})))
        return _interface_object(request.user, system_id, id)

    def delete(self, request, params, system_id, id):
        """Delete an interface (administrators or the owner), with its links; bonds, bridges
        and VLAN interfaces left without a parent go too."""
        interfaces.interface_delete(_interface(request.user, system_id, id).pk, request.user)

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


def _admin_machine(user, system_id: str) -> Machine:
    """The machine (404 if not visible), 403 unless the user may add interfaces to it."""
    machine = visible_machine(user, system_id)
    interfaces.interface_require_admin(machine, user)
    return machine


def _object(machine: Machine, interface_id: int) -> dict:
    return next(i for i in machine_object(machine)["interface_set"] if i["id"] == interface_id)


def _interface_object(user, system_id: str, interface_id: str) -> dict:
    interface = _interface(user, system_id, interface_id)
    return next(i for i in machine_object(interface.machine)["interface_set"]
                if i["id"] == interface.id)
