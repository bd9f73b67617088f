"""Network rules beyond single fields; services and admin forms raise the same field errors."""
import netaddr
from django.core.exceptions import ValidationError

from zones.choices import IPAddressAllocType, IPRangeType
from zones.models import VLAN, IPRange, StaticIPAddress, Subnet


def normalise_cidr(value: str) -> str:
    """Parse a CIDR and return its network form (10.0.0.5/24 -> 10.0.0.0/24)."""
    text = (value or "").strip()
    if "/" not in text:
        raise ValidationError({"cidr": f"'{value}' is not a CIDR (expected e.g. 10.0.0.0/24)."})
    try:
        return str(netaddr.IPNetwork(text).cidr)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise ValidationError({"cidr": f"'{value}' is not a valid CIDR."}) from exc


def normalise_ip(value: str, field: str) -> str:
    """Return the canonical text form of an IP address, or a field error."""
    try:
        return str(netaddr.IPAddress(str(value).strip()))
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise ValidationError({field: f"'{value}' is not a valid IP address."}) from exc


def check_vlan(vlan: VLAN) -> None:
    """VID unique per fabric; a relay VLAN excludes serving DHCP locally."""
    clash = VLAN.objects.filter(fabric_id=vlan.fabric_id, vid=vlan.vid).exclude(pk=vlan.pk)
    if clash.exists():
        raise ValidationError({"vid": f"VLAN {vlan.vid} already exists on fabric {vlan.fabric}."})
    if vlan.relay_vlan_id and vlan.dhcp_on:
        raise ValidationError({"relay_vlan": "A VLAN relaying DHCP cannot also serve DHCP."})


def check_subnet(subnet: Subnet) -> None:
    """Normalise the CIDR, DNS servers and gateway; everything must fit the network."""
    subnet.cidr = normalise_cidr(subnet.cidr)
    network = subnet.network
    servers = subnet.dns_servers
    if not isinstance(servers, list):
        raise ValidationError({"dns_servers": "Must be a list of IP addresses."})
    subnet.dns_servers = [normalise_ip(ip, "dns_servers") for ip in servers]
    if subnet.gateway_ip:
        subnet.gateway_ip = normalise_ip(subnet.gateway_ip, "gateway_ip")
        if netaddr.IPAddress(subnet.gateway_ip) not in network:
            raise ValidationError(
                {"gateway_ip": f"Gateway {subnet.gateway_ip} is not in subnet {network}."})
    if subnet.pk:
        _check_subnet_contents(subnet, network)


def _check_subnet_contents(subnet: Subnet, network: netaddr.IPNetwork) -> None:
    """After a CIDR or gateway change, ranges and addresses must still fit."""
    for iprange in IPRange.objects.filter(subnet=subnet):
        if iprange.netaddr_range not in network:
            raise ValidationError({"cidr": f"Range {iprange.start_ip}-{iprange.end_ip} would "
                                           f"fall outside {network}."})
        if (subnet.gateway_ip and iprange.type == IPRangeType.DYNAMIC
                and netaddr.IPAddress(subnet.gateway_ip) in iprange.netaddr_range):
            raise ValidationError({"gateway_ip": f"Gateway {subnet.gateway_ip} is inside dynamic "
                                                 f"range {iprange.start_ip}-{iprange.end_ip}."})
    for ip in StaticIPAddress.objects.filter(subnet=subnet).values_list("ip", flat=True):
        if netaddr.IPAddress(ip) not in network:
            raise ValidationError({"cidr": f"Address {ip} would fall outside {network}."})


def check_iprange(iprange: IPRange) -> None:
    """Start <= end, both in the subnet, no overlap, dynamic ranges avoid gateway and statics."""
    start = netaddr.IPAddress(normalise_ip(iprange.start_ip, "start_ip"))
    end = netaddr.IPAddress(normalise_ip(iprange.end_ip, "end_ip"))
    iprange.start_ip, iprange.end_ip = str(start), str(end)
    network = iprange.subnet.network
    if start not in network:
        raise ValidationError({"start_ip": f"Start IP {start} is not in subnet {network}."})
    if end not in network:
        raise ValidationError({"end_ip": f"End IP {end} is not in subnet {network}."})
    if start > end:
        raise ValidationError({"end_ip": f"End IP {end} is before start IP {start}."})
    _check_no_overlap(iprange, netaddr.IPRange(start, end))
    if iprange.type == IPRangeType.DYNAMIC:
        _check_dynamic_is_free(iprange, netaddr.IPRange(start, end))


def _check_no_overlap(iprange: IPRange, wanted: netaddr.IPRange) -> None:
    """No two ranges of the same subnet share an address."""
    for other in IPRange.objects.filter(subnet_id=iprange.subnet_id).exclude(pk=iprange.pk):
        span = other.netaddr_range
        if wanted.first <= span.last and span.first <= wanted.last:
            raise ValidationError({"start_ip": f"Range {wanted} overlaps the existing "
                                               f"{other.type} range {other.start_ip}-"
                                               f"{other.end_ip}."})


def _check_dynamic_is_free(iprange: IPRange, wanted: netaddr.IPRange) -> None:
    """A dynamic range must not hand out the gateway or an assigned static address."""
    gateway = iprange.subnet.gateway_ip
    if gateway and netaddr.IPAddress(gateway) in wanted:
        raise ValidationError(
            {"start_ip": f"Dynamic range {wanted} contains the subnet's gateway {gateway}."})
    statics = StaticIPAddress.objects.filter(subnet_id=iprange.subnet_id).exclude(
        alloc_type=IPAddressAllocType.DISCOVERED).values_list("ip", flat=True)
    taken = sorted(ip for ip in statics if netaddr.IPAddress(ip) in wanted)
    if taken:
        raise ValidationError(
            {"start_ip": f"Dynamic range {wanted} contains static addresses: {', '.join(taken)}."})


def subnet_for_ip(ip: str) -> Subnet | None:
    """Return the most specific subnet containing `ip`, if any."""
    address = netaddr.IPAddress(ip)
    found = [s for s in Subnet.objects.all() if address in s.network]
    return max(found, key=lambda s: s.network.prefixlen, default=None)


def check_static_ip(static: StaticIPAddress) -> None:
    """The address is inside its subnet and outside every dynamic range."""
    address = netaddr.IPAddress(normalise_ip(static.ip, "ip"))
    static.ip = str(address)
    network = static.subnet.network
    if address not in network:
        raise ValidationError({"ip": f"IP {address} is not in subnet {network}."})
    for iprange in IPRange.objects.filter(subnet_id=static.subnet_id, type=IPRangeType.DYNAMIC):
        if address in iprange.netaddr_range:
            raise ValidationError({"ip": f"IP {address} is inside dynamic range "
                                         f"{iprange.start_ip}-{iprange.end_ip}."})


def assignable_bounds(network: netaddr.IPNetwork) -> tuple[int, int]:
    """The first and last address a host may get: IPv4 keeps its network and broadcast
    addresses back (but on /31 and /32, RFC 3021), IPv6 its subnet-router anycast address."""
    first, last = network.first, network.last
    if network.version == 4 and network.prefixlen <= 30:
        return first + 1, last - 1
    if network.version == 6 and network.prefixlen <= 126:
        return first + 1, last
    return first, last


def reserved_spans(subnet: Subnet) -> list[tuple[int, int, str]]:
    """What no host address of `subnet` may be, as (first, last, why): its gateway and its
    dynamic and reserved ranges (assigned addresses are checked apart)."""
    spans = [(r.netaddr_range.first, r.netaddr_range.last, f"inside {r.type} range "
              f"{r.start_ip}-{r.end_ip}") for r in IPRange.objects.filter(subnet_id=subnet.pk)]
    if subnet.gateway_ip:
        gateway = int(netaddr.IPAddress(subnet.gateway_ip))
        spans.append((gateway, gateway, "the subnet's gateway"))
    return spans


def check_assignable_ip(subnet: Subnet, value: str, field: str = "ip_address") -> str:
    """Return the canonical form of an address a host may be given in `subnet`, or a field
    error: inside the subnet, not its network or broadcast address, not the gateway, outside
    every dynamic and reserved range, and assigned to nothing yet."""
    address = netaddr.IPAddress(normalise_ip(value, field))
    network = subnet.network
    if address.version != network.version or address not in network:
        raise ValidationError({field: f"IP {address} is not in subnet {network}."})
    first, last = assignable_bounds(network)
    if not first <= int(address) <= last:
        raise ValidationError({field: f"IP {address} is the network or broadcast address of "
                                      f"subnet {network}."})
    for start, end, why in reserved_spans(subnet):
        if start <= int(address) <= end:
            raise ValidationError({field: f"IP {address} is {why}."})
    if StaticIPAddress.objects.filter(ip=str(address)).exists():
        raise ValidationError({field: f"IP {address} is already assigned."})
    return str(address)
