"""subnets/ and subnets/{id}/ (id or CIDR): read, create, update and delete on the zones network
services, and the read operations Terraform and libmaas use."""
import netaddr

from maasapi.framework import Handler, operation
from maasapi.handlers.network_input import path_subnet, subnet_fields, subnet_vlan
from maasapi.objects import SUBNET_RELATED, subnet_object
from zones.models import Subnet
from zones.services import networks

SUBNET_PARAMS = """
:param cidr: The network, e.g. 10.0.0.0/24 (required on creation).
:type cidr: String
:param name: The name of the subnet (default: its CIDR).
:type name: String
:param vlan: The id of the VLAN the subnet is on.
:type vlan: Int
:param fabric: Without vlan: the fabric (id or name) whose VLAN `vid` to use.
:type fabric: String
:param vid: Without vlan: the VLAN id on that fabric (default 0, the untagged VLAN).
:type vid: Int
:param gateway_ip: The gateway, inside the subnet (empty: none).
:type gateway_ip: String
:param dns_servers: DNS servers, separated by commas or spaces (empty: none).
:type dns_servers: String
:param managed: Whether the region manages the subnet's addresses (default true).
:type managed: Boolean
:param description: Accepted and ignored: subnets have no description here.
:type description: String
:param allow_dns: Accepted and ignored, as are rdns_mode, allow_proxy, active_discovery, space.
:type allow_dns: Boolean
"""


class SubnetsHandler(Handler):
    """Manage subnets."""

    name = "SubnetsHandler"
    path = "subnets/"

    def read(self, request, params):
        """List subnets."""
        subnets = Subnet.objects.select_related(*SUBNET_RELATED).order_by("id")
        return [subnet_object(subnet) for subnet in subnets]

    def create(self, request, params):
        fields = {"cidr": "", **subnet_fields(params)}
        vlan = subnet_vlan(params, creating=True)
        return subnet_object(networks.subnet_create(request.user, vlan=vlan, **fields))

    create.__doc__ = ("Create a subnet (administrators). Without vlan, fabric or vid it goes on "
                      "the untagged VLAN of the first fabric.\n" + SUBNET_PARAMS)


class SubnetHandler(Handler):
    """Manage a subnet (by id or CIDR)."""

    name = "SubnetHandler"
    path = "subnets/{id}/"

    def read(self, request, params, id):
        """Read a subnet."""
        return subnet_object(path_subnet(id))

    def update(self, request, params, id):
        subnet = path_subnet(id)
        fields = subnet_fields(params)
        vlan = subnet_vlan(params, creating=False)
        if vlan is not None:
            fields["vlan"] = vlan
        return subnet_object(networks.subnet_update(subnet, request.user, **fields))

    update.__doc__ = ("Update a subnet (administrators); what is not given is kept, and its "
                      "ranges and addresses must still fit.\n" + SUBNET_PARAMS)

    def delete(self, request, params, id):
        """Delete a subnet and its IP ranges (administrators); refused (409) while it has
        static addresses."""
        networks.subnet_delete(path_subnet(id), request.user)

    @operation(idempotent=True)
    def ip_addresses(self, request, params, id):
        """Addresses in use in the subnet."""
        subnet = path_subnet(id)
        return [{"ip": static.ip, "alloc_type_name": static.get_alloc_type_display(),
                 "created": static.created.isoformat(), "user": None}
                for static in subnet.static_ips.order_by("ip")]

    @operation(idempotent=True)
    def unreserved_ip_ranges(self, request, params, id):
        """Ranges of addresses neither reserved, dynamic nor assigned."""
        return [_range(block) for block in _unreserved(path_subnet(id)).iter_ipranges()]

    @operation(idempotent=True)
    def reserved_ip_ranges(self, request, params, id):
        """The subnet's dynamic and reserved ranges."""
        return [{**_range(iprange.netaddr_range), "purpose": [iprange.type]}
                for iprange in path_subnet(id).ipranges.all()]

    @operation(idempotent=True)
    def statistics(self, request, params, id):
        """How many addresses the subnet has, and how many are used."""
        subnet = path_subnet(id)
        total = max(subnet.network.size - (2 if subnet.network.version == 4 else 0), 0)
        free = _unreserved(subnet)
        available, used = free.size, total - free.size
        largest = max((block.size for block in free.iter_ipranges()), default=0)
        return {"num_available": available, "largest_available": largest,
                "num_unavailable": used, "total_addresses": total,
                "usage": used / total if total else 0.0,
                "usage_string": f"{(used / total if total else 0):.0%}",
                "available_string": f"{(available / total if total else 0):.0%}",
                "first_address": str(subnet.network[1 if total else 0]),
                "last_address": str(subnet.network[-2 if total else -1]),
                "ip_version": subnet.network.version}


def _unreserved(subnet: Subnet) -> netaddr.IPSet:
    network = subnet.network
    free = netaddr.IPSet(network)
    if network.version == 4 and network.size > 2:
        free.remove(network.network)
        free.remove(network.broadcast)
    for iprange in subnet.ipranges.all():
        free.remove(iprange.netaddr_range)
    for ip in subnet.static_ips.values_list("ip", flat=True):
        free.remove(ip)
    if subnet.gateway_ip:
        free.remove(subnet.gateway_ip)
    return free


def _range(block: netaddr.IPRange) -> dict:
    return {"start": str(netaddr.IPAddress(block.first)), "end": str(netaddr.IPAddress(
        block.last)), "num_addresses": block.size}
