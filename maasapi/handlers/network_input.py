"""Reading the parameters of the network handlers (fabrics, VLANs, subnets, IP ranges) into
what zones.services.networks and zones.services.addresses take.

An object named in the path that does not exist is 404, as MAAS answers; one named in a form
field is 400 for that field. Only the parameters a request carries are passed on, so an update
changes what it names. Every rule about the values themselves is the services'.
"""
from django.db.models import Q, QuerySet

from maasapi.errors import BadRequest, NotFound
from maasapi.objects import IPRANGE_RELATED, SUBNET_RELATED, VLAN_RELATED
from zones.models import VLAN, Fabric, IPRange, RackController, Subnet

IPRANGE_FIELDS = ("type", "start_ip", "end_ip", "comment")


def _match(key: str, by: str | None, ids: bool = True) -> Q:
    """Rows whose id is `key` (when it is a number and `ids`) or whose `by` field is `key`."""
    match = Q(pk=int(key)) if ids and key.isdecimal() else Q(pk__in=[])
    return (match | Q(**{by: key})) if by else match


def path_object(queryset: QuerySet, key: str, what: str, by: str | None = None,
                ids: bool = True):
    """The object a path names by id (or `by`; `ids` False: only by it), else 404 as MAAS
    words it."""
    found = queryset.filter(_match(key, by, ids)).first()
    if found is None:
        raise NotFound(f"No {what} matches the given query.")
    return found


def field_object(params, field: str, queryset: QuerySet, what: str, by: str | None = None,
                 ids: bool = True):
    """The object a form field names by id (or `by`); None when the field is absent or empty,
    400 for the field when nothing matches."""
    key = params.text(field).strip()
    if not key:
        return None
    found = queryset.filter(_match(key, by, ids)).first()
    if found is None:
        raise BadRequest.fields({field: [f"No {what} matches {key!r}."]})
    return found


def path_fabric(key: str) -> Fabric:
    """A fabric by id or by name (libmaas and the CLI pass names)."""
    return path_object(Fabric.objects, key, "Fabric", by="name")


def path_vlan(fabric_key: str, vid: str) -> VLAN:
    """The VLAN `vid` of a fabric (id or name)."""
    fabric = path_fabric(fabric_key)
    vlan = (VLAN.objects.select_related(*VLAN_RELATED).filter(fabric=fabric, vid=int(vid))
            .first() if vid.isdecimal() else None)
    if vlan is None:
        raise NotFound("No VLAN matches the given query.")
    return vlan


def path_vlan_id(key: str) -> VLAN:
    """A VLAN by its database id (vlans/{vlan_id}/)."""
    return path_object(VLAN.objects.select_related(*VLAN_RELATED), key, "VLAN")


def path_subnet(key: str) -> Subnet:
    """A subnet by id or by CIDR."""
    return path_object(Subnet.objects.select_related(*SUBNET_RELATED), key, "Subnet", by="cidr")


def path_iprange(key: str) -> IPRange:
    """An IP range by id."""
    return path_object(IPRange.objects.select_related(*IPRANGE_RELATED), key, "IPRange")


def field_subnet(params) -> Subnet | None:
    """The `subnet` field (id or CIDR) as a subnet; None when not given."""
    return field_object(params, "subnet", Subnet.objects, "subnet", by="cidr")


def fabric_fields(params) -> dict:
    """name and description (class_type is accepted and ignored: fabrics have no class)."""
    return {name: params.text(name) for name in ("name", "description") if name in params}


def vlan_fields(params) -> dict:
    """vid, name, mtu, dhcp_on, primary_rack and secondary_rack (system_id; empty clears),
    relay_vlan (id; empty clears)."""
    fields = {name: params.integer(name) for name in ("vid", "mtu")
              if params.text(name).strip()}
    if "name" in params:
        fields["name"] = params.text("name")
    if "dhcp_on" in params:
        fields["dhcp_on"] = params.boolean("dhcp_on")
    for name in ("primary_rack", "secondary_rack"):
        if name in params:
            fields[name] = field_object(params, name, RackController.objects, "rack controller",
                                        by="system_id", ids=False)
    if "relay_vlan" in params:
        fields["relay_vlan"] = field_object(params, "relay_vlan", VLAN.objects, "VLAN")
    return fields


def subnet_fields(params) -> dict:
    """cidr, name, gateway_ip (empty clears), dns_servers (a list, or separated by commas or
    spaces; empty clears) and managed."""
    fields = {name: params.text(name) for name in ("cidr", "name") if name in params}
    if "gateway_ip" in params:
        fields["gateway_ip"] = params.text("gateway_ip").strip() or None
    if "dns_servers" in params:
        fields["dns_servers"] = params.split_list("dns_servers")
    if "managed" in params:
        fields["managed"] = params.boolean("managed", True)
    return fields


def subnet_vlan(params, *, creating: bool) -> VLAN | None:
    """The VLAN a subnet goes on: `vlan` (id); else `fabric` (id or name) and `vid` (default
    0, the untagged VLAN); else, on creation, the untagged VLAN of the first fabric (MAAS's
    default fabric). None on an update that names none of them."""
    if params.text("vlan").strip():
        return field_object(params, "vlan", VLAN.objects, "VLAN")
    if not (creating or params.text("fabric").strip() or params.text("vid").strip()):
        return None
    fabric = (field_object(params, "fabric", Fabric.objects, "fabric", by="name")
              or Fabric.objects.order_by("id").first())
    if fabric is None:
        raise BadRequest.fields({"fabric": ["No fabric exists yet: create one first."]})
    vid = params.integer("vid", 0)
    vlan = fabric.vlans.filter(vid=vid).first()
    if vlan is None:
        raise BadRequest.fields({"vid": [f"No VLAN {vid} on fabric {fabric.name}."]})
    return vlan


def iprange_fields(params) -> dict:
    """type, start_ip, end_ip and comment, as given."""
    return {name: params.text(name) for name in IPRANGE_FIELDS if name in params}


def field_vlan(params) -> VLAN | None:
    """The `vlan` field (a VLAN's id) as a VLAN; None when absent or empty."""
    return field_object(params, "vlan", VLAN.objects.select_related("fabric"), "VLAN")


def field_interface_ids(params, field: str, alias: str | None = None) -> list[int]:
    """Interface ids, repeated `field` (or `alias`: MAAS takes `parent` and `parents` alike);
    400 for the field when one is not a number."""
    values = params.list(field) or (params.list(alias) if alias else [])
    bad = [value for value in values if not value.strip().isdecimal()]
    if bad:
        raise BadRequest.fields({field: [f"{value!r} is not an interface id." for value in bad]})
    return [int(value) for value in values]


def interface_options(params, spec: dict) -> dict:
    """The bond_* or bridge_* options a request gives (nodes.services.interfaces.OPTIONS),
    read as the type of their default: boolean, whole number or text."""
    found = {}
    for name, option in spec.items():
        if not params.text(name).strip():
            continue
        if isinstance(option.default, bool):
            found[name] = params.boolean(name)
        elif isinstance(option.default, int):
            found[name] = params.integer(name)
        else:
            found[name] = params.text(name).strip()
    return found
