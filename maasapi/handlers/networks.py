"""fabrics/, VLANs and subnets/ (read, and the subnet operations Terraform and libmaas use)."""
import netaddr
from django.db.models import Q
from django.shortcuts import get_object_or_404

from maasapi.errors import NotFound
from maasapi.framework import Handler, operation
from maasapi.objects import VLAN_RELATED, subnet_object, vlan_object
from zones.models import VLAN, Fabric, Subnet


def fabric_object(fabric: Fabric) -> dict:
    """A fabric with its VLANs."""
    return {"id": fabric.id, "name": fabric.name, "class_type": None,
            "vlans": [vlan_object(vlan) for vlan in fabric.vlans.order_by("vid")],
            "resource_uri": FabricHandler.uri(id=fabric.id)}


_VLAN_RELATED = VLAN_RELATED


class FabricsHandler(Handler):
    """Manage fabrics."""

    name = "FabricsHandler"
    path = "fabrics/"

    def read(self, request, params):
        """List fabrics with their VLANs."""
        return [fabric_object(fabric) for fabric in Fabric.objects.order_by("id")]


class FabricHandler(Handler):
    """Manage a fabric (by id or name)."""

    name = "FabricHandler"
    path = "fabrics/{id}/"

    def read(self, request, params, id):
        """Read a fabric."""
        return fabric_object(_fabric(id))


class VlansHandler(Handler):
    """Manage the VLANs of a fabric."""

    name = "VlansHandler"
    path = "fabrics/{fabric_id}/vlans/"

    def read(self, request, params, fabric_id):
        """List the fabric's VLANs."""
        fabric = _fabric(fabric_id)
        return [vlan_object(vlan) for vlan in
                fabric.vlans.select_related(*_VLAN_RELATED).order_by("vid")]


class VlanHandler(Handler):
    """Manage a VLAN of a fabric."""

    name = "VlanHandler"
    path = "fabrics/{fabric_id}/vlans/{vid}/"

    def read(self, request, params, fabric_id, vid):
        """Read a VLAN."""
        return vlan_object(get_object_or_404(VLAN.objects.select_related(*_VLAN_RELATED),
                                             fabric=_fabric(fabric_id), vid=_number(vid)))


class SubnetsHandler(Handler):
    """Manage subnets."""

    name = "SubnetsHandler"
    path = "subnets/"

    def read(self, request, params):
        """List subnets."""
        subnets = Subnet.objects.select_related(*[f"vlan__{r}" for r in _VLAN_RELATED])
        return [subnet_object(subnet) for subnet in subnets.order_by("id")]


class SubnetHandler(Handler):
    """Manage a subnet (by id or CIDR)."""

    name = "SubnetHandler"
    path = "subnets/{id}/"

    def read(self, request, params, id):
        """Read a subnet."""
        return subnet_object(_subnet(id))

    @operation(idempotent=True)
    def ip_addresses(self, request, params, id):
        """Addresses in use in the subnet."""
        subnet = _subnet(id)
        return [{"ip": static.ip, "alloc_type_name": static.get_alloc_type_display(),
                 "created": static.created.isoformat(), "user": None}
                for static in subnet.static_ips.order_by("ip")]

    @operation(idempotent=True)
    def unreserved_ip_ranges(self, request, params, id):
        """Ranges of addresses neither reserved, dynamic nor assigned."""
        return [_range(block) for block in _unreserved(_subnet(id)).iter_ipranges()]

    @operation(idempotent=True)
    def reserved_ip_ranges(self, request, params, id):
        """The subnet's dynamic and reserved ranges."""
        return [{**_range(iprange.netaddr_range), "purpose": [iprange.type]}
                for iprange in _subnet(id).ipranges.all()]

    @operation(idempotent=True)
    def statistics(self, request, params, id):
        """How many addresses the subnet has, and how many are used."""
        subnet = _subnet(id)
        total = max(subnet.network.size - (2 if subnet.network.version == 4 else 0), 0)
        available = _unreserved(subnet).size
        used = total - available
        return {"num_available": available, "largest_available": _largest(subnet),
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


def _largest(subnet: Subnet) -> int:
    return max((block.size for block in _unreserved(subnet).iter_ipranges()), default=0)


def _range(block: netaddr.IPRange) -> dict:
    return {"start": str(netaddr.IPAddress(block.first)), "end": str(netaddr.IPAddress(
        block.last)), "num_addresses": block.size}


def _subnet(key: str) -> Subnet:
    match = Q(cidr=key) | (Q(pk=int(key)) if key.isdigit() else Q())
    subnet = Subnet.objects.select_related("vlan__fabric").filter(match).first()
    if subnet is None:
        raise NotFound("No Subnet matches the given query.")
    return subnet


def _fabric(key: str) -> Fabric:
    """A fabric by id or by name (libmaas and the CLI pass names)."""
    match = Q(name=key) | (Q(pk=int(key)) if key.isdigit() else Q())
    fabric = Fabric.objects.filter(match).first()
    if fabric is None:
        raise NotFound("No Fabric matches the given query.")
    return fabric


def _number(value: str) -> int:
    if not value.isdigit():
        raise NotFound("Not found.")
    return int(value)
