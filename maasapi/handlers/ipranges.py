"""ipranges/ and ipranges/{id}/: dynamic and reserved ranges of a subnet, on the zones address
services (MAAS's IPRangesHandler and IPRangeHandler)."""
from maasapi.framework import Handler
from maasapi.handlers.network_input import field_subnet, iprange_fields, path_iprange
from maasapi.objects import IPRANGE_RELATED, subnet_object
from zones.models import IPRange
from zones.services import addresses

IPRANGE_PARAMS = """
:param type: dynamic (a DHCP pool) or reserved.
:type type: String
:param start_ip: The first address of the range.
:type start_ip: String
:param end_ip: The last address of the range.
:type end_ip: String
:param subnet: The subnet's id or CIDR (default: the subnet that contains start_ip).
:type subnet: String
:param comment: A description of the range.
:type comment: String
"""


def iprange_object(iprange: IPRange) -> dict:
    """A range as MAAS shows it. Ranges have no owner here (only administrators make them), so
    `user` is null where MAAS shows its creator."""
    return {"id": iprange.id, "type": iprange.type, "start_ip": iprange.start_ip,
            "end_ip": iprange.end_ip, "comment": iprange.comment, "user": None,
            "subnet": subnet_object(iprange.subnet),
            "resource_uri": IPRangeHandler.uri(id=iprange.id)}


class IPRangesHandler(Handler):
    """Manage IP ranges."""

    name = "IPRangesHandler"
    path = "ipranges/"

    def read(self, request, params):
        """List IP ranges."""
        return [iprange_object(iprange) for iprange in
                IPRange.objects.select_related(*IPRANGE_RELATED).order_by("id")]

    def create(self, request, params):
        fields = {"type": "", "start_ip": "", "end_ip": "", **iprange_fields(params)}
        return iprange_object(addresses.iprange_create(
            request.user, subnet=field_subnet(params), **fields))

    create.__doc__ = ("Create an IP range in a subnet (administrators); it must not overlap "
                      "another.\n" + IPRANGE_PARAMS)


class IPRangeHandler(Handler):
    """Manage an IP range."""

    name = "IPRangeHandler"
    path = "ipranges/{id}/"

    def read(self, request, params, id):
        """Read an IP range."""
        return iprange_object(path_iprange(id))

    def update(self, request, params, id):
        iprange = path_iprange(id)
        fields = iprange_fields(params)
        subnet = field_subnet(params)
        if subnet is not None:
            fields["subnet"] = subnet
        return iprange_object(addresses.iprange_update(iprange, request.user, **fields))

    update.__doc__ = ("Update an IP range (administrators); what is not given is kept.\n"
                      + IPRANGE_PARAMS)

    def delete(self, request, params, id):
        """Delete an IP range (administrators)."""
        addresses.iprange_delete(path_iprange(id), request.user)
