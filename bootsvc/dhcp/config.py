"""DHCP configuration: dataclasses built from the rack config JSON (docs/rack-interfaces.md)."""
import ipaddress
from dataclasses import dataclass, field
from functools import cached_property

from bootsvc.dhcp.packet import parse_mac


def _ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


@dataclass(frozen=True)
class Host:
    """A known machine: its reserved address on one of the subnets."""

    mac: bytes
    ip: int
    hostname: str = ""
    system_id: str = ""


@dataclass(frozen=True)
class RegionLease:
    """A lease the region knows (possibly handed out by another rack)."""

    mac: bytes
    ip: int
    expires: float


@dataclass
class Subnet:
    """One served subnet (a VLAN with dhcp_on where this rack is active)."""

    vlan: int
    network: ipaddress.IPv4Network
    gateway: int | None
    dns_servers: list[int]
    mtu: int | None
    lease_time: int
    enlist_lease_time: int
    allow_enlistment: bool
    dynamic_ranges: list[tuple[int, int]]
    reserved_ranges: list[tuple[int, int]]
    domain: str = ""
    bios_boot_loader: str = "pxelinux"  # or "ipxe": what BIOS PXE ROMs chainload
    server_ip: int = 0  # this rack's address for the subnet (server id, next-server)

    def contains(self, ip: int) -> bool:
        return self.first <= ip <= self.last

    # Cached: asked several times per packet (profiled: bench/dhcp_profile.py).
    @cached_property
    def first(self) -> int:
        return int(self.network.network_address)

    @cached_property
    def last(self) -> int:
        return int(self.network.broadcast_address)

    @cached_property
    def key(self) -> str:
        return str(self.network)

    def in_dynamic(self, ip: int) -> bool:
        return any(start <= ip <= end for start, end in self.dynamic_ranges)

    def in_reserved(self, ip: int) -> bool:
        return any(start <= ip <= end for start, end in self.reserved_ranges)

    def excluded(self, ip: int) -> bool:
        """Addresses never handed out dynamically: network, broadcast, gateway, server, reserved."""
        return (
            ip in (self.first, self.last, self.gateway, self.server_ip)
            or self.in_reserved(ip)
        )


@dataclass
class DhcpConfig:
    """The whole DHCP configuration of a rack, with lookups by MAC and by network."""

    subnets: list[Subnet] = field(default_factory=list)
    hosts: dict[bytes, Host] = field(default_factory=dict)
    region_leases: list[RegionLease] = field(default_factory=list)
    http_port: int = 5248

    def subnet_for(self, ip: int) -> Subnet | None:
        for subnet in self.subnets:
            if subnet.first <= ip <= subnet.last:
                return subnet
        return None


def _ranges(items) -> list[tuple[int, int]]:
    return [(_ip(r["start"]), _ip(r["end"])) for r in items or ()]


def _subnet(data: dict, local_addresses: list[int]) -> Subnet:
    network = ipaddress.IPv4Network(data["cidr"], strict=False)
    lease_time = int(data.get("lease_time") or 600)
    subnet = Subnet(
        vlan=int(data.get("vlan") or 0),
        network=network,
        gateway=_ip(data["gateway"]) if data.get("gateway") else None,
        dns_servers=[_ip(a) for a in data.get("dns_servers") or ()],
        mtu=int(data["mtu"]) if data.get("mtu") else None,
        lease_time=lease_time,
        enlist_lease_time=int(data.get("enlist_lease_time") or min(lease_time, 120)),
        allow_enlistment=bool(data.get("allow_enlistment", True)),
        dynamic_ranges=_ranges(data.get("dynamic_ranges")),
        reserved_ranges=_ranges(data.get("reserved_ranges")),
        domain=data.get("domain") or "",
        bios_boot_loader=data.get("bios_boot_loader") or "pxelinux",
    )
    on_subnet = [a for a in local_addresses if subnet.contains(a)]
    # A relayed subnet has no local address: clients reach the rack through the relay.
    subnet.server_ip = on_subnet[0] if on_subnet else (local_addresses or [0])[0]
    return subnet


def from_json(data: dict, local_addresses: list[str]) -> DhcpConfig:
    """Build a DhcpConfig from the rack config document (the whole document or its dhcp part)."""
    dhcp = data.get("dhcp", data)
    local = [_ip(a) for a in local_addresses]
    hosts = {}
    for host in dhcp.get("hosts") or ():
        mac = parse_mac(host["mac"])
        hosts[mac] = Host(mac, _ip(host["ip"]), host.get("hostname") or "",
                          host.get("system_id") or "")
    leases = [
        RegionLease(parse_mac(lease["mac"]), _ip(lease["ip"]), float(lease.get("expires") or 0))
        for lease in dhcp.get("leases") or ()
    ]
    return DhcpConfig(
        subnets=[_subnet(s, local) for s in dhcp.get("subnets") or ()],
        hosts=hosts,
        region_leases=leases,
        http_port=int(data.get("http_port") or 5248),
    )
