"""Reads for zones, pools and networks, shaped for the API and the console pages."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import netaddr
from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from maasproject.permissions import is_admin
from nodes.models import BootResource
from zones.choices import FAULTY_STATES, IPRangeType, LeaseState, RackStatus
from zones.models import (
    VLAN,
    DHCPLease,
    Fabric,
    IPRange,
    RackController,
    ResourcePool,
    StaticIPAddress,
    Subnet,
    Zone,
)
from zones.rackkeys import rack_power_key
from zones.services.bootfiles import boot_files


def zones_list() -> QuerySet[Zone]:
    """Zones with their machine counts."""
    return Zone.objects.annotate(machine_count=Count("machine")).order_by("name")


def pools_list() -> QuerySet[ResourcePool]:
    """Resource pools with their machine counts."""
    return ResourcePool.objects.annotate(machine_count=Count("machine")).order_by("name")


def fabrics_list() -> QuerySet[Fabric]:
    """Fabrics with their VLANs."""
    return Fabric.objects.prefetch_related(
        Prefetch("vlans", queryset=VLAN.objects.order_by("vid"))).order_by("name")


def vlans_list() -> QuerySet[VLAN]:
    """VLANs with their fabric and racks."""
    return VLAN.objects.select_related("fabric", "primary_rack", "secondary_rack").order_by(
        "fabric__name", "vid")


def subnets_list() -> QuerySet[Subnet]:
    """Subnets ordered by CIDR."""
    return Subnet.objects.select_related("vlan").order_by("cidr")


def ipranges_list() -> QuerySet[IPRange]:
    """IP ranges ordered by subnet and start address."""
    return IPRange.objects.select_related("subnet").order_by("subnet_id", "start_ip", "id")


def static_ips_visible_to(user) -> QuerySet[StaticIPAddress]:
    """Admins see every address; users their own and those of machines they can see."""
    queryset = StaticIPAddress.objects.select_related("user", "subnet", "interface")
    if is_admin(user):
        return queryset.order_by("ip")
    return queryset.filter(
        Q(user=user)
        | Q(interface__machine__owner=user)
        | Q(interface__isnull=False, interface__machine__owner__isnull=True)
    ).order_by("ip")


def racks_list() -> QuerySet[RackController]:
    """Rack controllers with their subnets."""
    return RackController.objects.prefetch_related("subnets").order_by("name")


def rack_status_reason(rack: RackController, status: str | None = None) -> str:
    """Why a rack is not running (or not `status`, when given): its silence, or each service
    not running and why."""
    status = status or rack.status
    if status == RackStatus.DEAD:
        if rack.last_heartbeat is None:
            return "no heartbeat yet"
        return f"no heartbeat since {rack.last_heartbeat.isoformat(timespec='seconds')}"
    if status != RackStatus.DEGRADED:
        return ""
    reasons = rack.service_reasons or {}
    return "; ".join(f"{name} {state}" + (f": {reasons[name]}" if reasons.get(name) else "")
                     for name, state in sorted((rack.services or {}).items())
                     if state in FAULTY_STATES)


def healthy_racks():
    """Racks that can run power work, running ones first: running, or degraded with their
    worker running (missing boot loaders do not stop power jobs)."""
    from rack_worker.client import RackInfo

    racks = RackController.objects.filter(
        Q(status=RackStatus.RUNNING)
        | Q(status=RackStatus.DEGRADED, services__worker="running")).prefetch_related("subnets")
    return [
        RackInfo(name=rack.name, cidrs=tuple(subnet.cidr for subnet in rack.subnets.all()),
                 power_key=rack_power_key(rack.system_id, rack.token_hash))
        for rack in sorted(racks, key=lambda r: (r.status != RackStatus.RUNNING, r.name))
    ]


def rack_boot_images(rack: RackController, files: list | None = None) -> dict:
    """A rack's boot images as MAAS's list_boot_images shows them: {images, connected, status}.

    Racks sync the whole manifest (every registered boot resource) and report totals and a
    state (and the files they hold, which the images page shows), so the images are the
    region's boot resources that have files in the manifest, and status compares the rack's
    last report with the manifest now: synced (the same files and bytes), syncing,
    out-of-sync (failed, or the manifest changed since), unknown (never reported).
    connected: the rack is not dead (heartbeats).
    """
    files = boot_files() if files is None else files
    resources = (BootResource.objects.filter(files__path__in=[f.path for f in files])
                 .distinct().order_by("name"))
    images = [{"name": r.name, "architecture": r.architecture.partition("/")[0],
               "subarches": [r.architecture.partition("/")[2] or "generic"]} for r in resources]
    return {"images": images, "connected": rack.status != RackStatus.DEAD,
            "status": rack_image_status(rack.image_sync or {}, files)}


def rack_image_status(report: dict, files: list) -> str:
    """synced, syncing, out-of-sync or unknown: a rack's last sync report against the files."""
    if not report:
        return "unknown"
    if report.get("state") == "syncing":
        return "syncing"
    current = (report.get("files_total") == len(files)
               and report.get("bytes_total") == sum(f.size for f in files))
    return "synced" if report.get("state") == "synced" and current else "out-of-sync"


# --- The operator's console: racks and subnets pages (a fixed number of queries each) ---------

# In the order the racks page lists them; services it does not know come last, by name.
SERVICE_LABELS = {"worker": "worker (power)", "bootsvc": "boot services", "dhcp": "DHCP",
                  "tftp": "TFTP", "http": "HTTP boot", "imagecache": "image cache"}
RACK_STATUS_CLASSES = {RackStatus.RUNNING: "status-ready", RackStatus.DEGRADED: "status-progress",
                       RackStatus.DEAD: "status-failed"}


@dataclass
class SyncProgress:
    """A rack's last image-cache sync report, with its percentage of bytes done."""

    state: str
    error: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    updated: str

    @property
    def percent(self) -> int:
        if not self.bytes_total:
            return 100 if self.state == "synced" else 0
        return min(100, self.bytes_done * 100 // self.bytes_total)


@dataclass
class RackOverview:
    """One rack as the racks page shows it."""

    rack: RackController
    status: str
    seconds_ago: int | None
    reason: str
    services: list[tuple[str, str, str]]
    primary_vlans: list[VLAN] = field(default_factory=list)
    secondary_vlans: list[VLAN] = field(default_factory=list)
    sync: SyncProgress | None = None

    @property
    def status_class(self) -> str:
        return RACK_STATUS_CLASSES.get(self.status, "status-other")


def sync_progress(report: dict) -> SyncProgress | None:
    """A rack's image_sync report as SyncProgress, or None if it never reported."""
    if not report:
        return None
    numbers = {key: int(report.get(key) or 0)
               for key in ("files_done", "files_total", "bytes_done", "bytes_total")}
    return SyncProgress(state=str(report.get("state", "")), error=str(report.get("error", "")),
                        updated=str(report.get("updated", "")), **numbers)


def service_order(item: tuple[str, str]) -> tuple[int, str]:
    order = list(SERVICE_LABELS)
    return (order.index(item[0]) if item[0] in order else len(order), item[0])


def rack_effective_status(rack: RackController, now: datetime) -> str:
    """The recorded status, but dead as soon as heartbeats stopped (the sweep may lag)."""
    silent = (rack.last_heartbeat is None
              or (now - rack.last_heartbeat).total_seconds() >= float(settings.RACK_DEAD_AFTER))
    return RackStatus.DEAD if silent else rack.status


def racks_overview(now: datetime | None = None) -> list[RackOverview]:
    """Every rack with its status, services, VLANs served and image sync (two queries)."""
    now = now or timezone.now()
    rows = {}
    for rack in RackController.objects.order_by("name"):
        status = rack_effective_status(rack, now)
        reasons = rack.service_reasons or {}
        rows[rack.id] = RackOverview(
            rack=rack, status=status,
            seconds_ago=(None if rack.last_heartbeat is None
                         else max(0, int((now - rack.last_heartbeat).total_seconds()))),
            reason=rack_status_reason(rack, status),
            services=[(SERVICE_LABELS.get(name, name), str(state), str(reasons.get(name, "")))
                      for name, state in sorted((rack.services or {}).items(),
                                                key=service_order)],
            sync=sync_progress(rack.image_sync or {}))
    vlans = VLAN.objects.select_related("fabric").filter(
        Q(primary_rack__isnull=False) | Q(secondary_rack__isnull=False)).order_by("fabric__name",
                                                                                  "vid")
    for vlan in vlans:
        if vlan.primary_rack_id in rows:
            rows[vlan.primary_rack_id].primary_vlans.append(vlan)
        if vlan.secondary_rack_id in rows:
            rows[vlan.secondary_rack_id].secondary_vlans.append(vlan)
    return list(rows.values())


@dataclass
class SubnetUsage:
    """A subnet's address counts. usable: all but network/broadcast (IPv4 /30 and wider) or
    the subnet-router anycast address (IPv6 /126 and wider); used: static addresses and active,
    unexpired DHCP leases; reserved: reserved ranges and the gateway, if not used; free: the rest
    (dynamic ranges included: they are free until leased)."""

    subnet: Subnet
    ranges: list[IPRange]
    usable: int
    used: int
    reserved: int

    @property
    def free(self) -> int:
        return self.usable - self.used - self.reserved

    @property
    def percent(self) -> int:
        """How much of the subnet is not free (used or reserved), in percent."""
        return 100 - self.free * 100 // self.usable if self.usable else 100


@dataclass
class VLANOverview:
    vlan: VLAN
    subnets: list[SubnetUsage] = field(default_factory=list)


@dataclass
class FabricOverview:
    fabric: Fabric
    vlans: list[VLANOverview] = field(default_factory=list)


def usable_addresses(network: netaddr.IPNetwork) -> netaddr.IPSet:
    """The addresses of a network hosts can have (see SubnetUsage)."""
    usable = netaddr.IPSet([network])
    if network.version == 4 and network.prefixlen <= 30:
        usable.remove(network.network)
        usable.remove(network.broadcast)
    elif network.version == 6 and network.prefixlen <= 126:
        usable.remove(network.network)
    return usable


def subnet_usage(subnet: Subnet, ranges: list[IPRange], used_ips: list[str]) -> SubnetUsage:
    """Count a subnet's usable, used, reserved (and so free) addresses."""
    usable = usable_addresses(subnet.network)
    used = netaddr.IPSet(used_ips) & usable
    reserved = netaddr.IPSet(r.netaddr_range for r in ranges if r.type == IPRangeType.RESERVED)
    if subnet.gateway_ip:
        reserved.add(subnet.gateway_ip)
    reserved = (reserved & usable) - used
    return SubnetUsage(subnet=subnet, ranges=ranges, usable=usable.size, used=used.size,
                       reserved=reserved.size)


def subnets_overview(now: datetime | None = None) -> list[FabricOverview]:
    """Fabrics, their VLANs (with racks) and subnets with usage (six queries in all)."""
    now = now or timezone.now()
    ranges, used = defaultdict(list), defaultdict(list)
    for iprange in IPRange.objects.order_by("start_ip", "id"):
        ranges[iprange.subnet_id].append(iprange)
    for subnet_id, ip in StaticIPAddress.objects.values_list("subnet_id", "ip"):
        used[subnet_id].append(ip)
    for subnet_id, ip in DHCPLease.objects.filter(
            state=LeaseState.ACTIVE, expires__gt=now).values_list("subnet_id", "ip"):
        used[subnet_id].append(ip)
    vlans = {}
    for vlan in VLAN.objects.select_related("primary_rack", "secondary_rack"):
        vlans[vlan.id] = VLANOverview(vlan)
    for subnet in Subnet.objects.order_by("cidr"):
        vlans[subnet.vlan_id].subnets.append(
            subnet_usage(subnet, ranges[subnet.id], used[subnet.id]))
    fabrics = {fabric.id: FabricOverview(fabric) for fabric in Fabric.objects.order_by("name")}
    for row in sorted(vlans.values(), key=lambda row: row.vlan.vid):
        fabrics[row.vlan.fabric_id].vlans.append(row)
    return list(fabrics.values())


def subnet_detail(subnet: Subnet, user, now: datetime | None = None) -> dict:
    """One subnet's usage and ranges, the static addresses the user may see, and (admins only,
    as leases are not in the API) its active leases; a fixed number of queries."""
    now = now or timezone.now()
    ranges = list(subnet.ipranges.order_by("start_ip", "id"))
    active = DHCPLease.objects.filter(subnet=subnet, state=LeaseState.ACTIVE, expires__gt=now)
    used = [*subnet.static_ips.values_list("ip", flat=True), *active.values_list("ip", flat=True)]
    addresses = static_ips_visible_to(user).filter(subnet=subnet).select_related(
        "interface__machine")
    return {"subnet": subnet, "usage": subnet_usage(subnet, ranges, used),
            "addresses": list(addresses),
            "leases": list(active.select_related("rack").order_by("ip")) if is_admin(user)
            else None}
