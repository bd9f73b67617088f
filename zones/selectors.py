"""Reads for zones, pools and networks, shaped for the API."""
from django.db.models import Count, Prefetch, Q, QuerySet

from maasproject.permissions import is_admin
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
