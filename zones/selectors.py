"""Reads for zones, pools and networks, shaped for the API."""
from django.db.models import Count, Prefetch, Q, QuerySet

from maasproject.permissions import is_admin
from nodes.models import BootResource
from zones.choices import RackStatus
from zones.models import (
    VLAN,
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


def rack_status_reason(rack: RackController) -> str:
    """Why a rack is not running: its silence, or each service not running and why."""
    if rack.status == RackStatus.DEAD:
        if rack.last_heartbeat is None:
            return "no heartbeat yet"
        return f"no heartbeat since {rack.last_heartbeat.isoformat(timespec='seconds')}"
    if rack.status != RackStatus.DEGRADED:
        return ""
    reasons = rack.service_reasons or {}
    return "; ".join(f"{name} {state}" + (f": {reasons[name]}" if reasons.get(name) else "")
                     for name, state in sorted((rack.services or {}).items())
                     if state != "running")


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

    Racks sync the whole manifest (every registered boot resource) and report only totals and
    a state, so the images are the region's boot resources that have files in the manifest,
    and status compares the rack's last report with the manifest now: synced (the same files
    and bytes), syncing, out-of-sync (failed, or the manifest changed since), unknown (never
    reported). connected: the rack is not dead (heartbeats).
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
