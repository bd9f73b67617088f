"""Admin-side writes for rack controllers (racks register and heartbeat themselves)."""
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from maasproject.errors import InUseError
from maasproject.permissions import require_admin
from nodes.choices import EventLevel
from nodes.services.events import event_record
from zones.choices import FAULTY_STATES, RackStatus
from zones.models import VLAN, RackController, Subnet
from zones.selectors import rack_status_reason
from zones.services.common import lock, record


@transaction.atomic
def rack_set_subnets(rack: RackController, user, subnets: list[Subnet]) -> RackController:
    """Set the subnets a rack is connected to."""
    require_admin(user, "edit rack controllers")
    rack = lock(rack)
    rack.subnets.set(subnets)
    record(user, "rack_updated", f"Set subnets of rack {rack.name}.")
    return rack


@transaction.atomic
def rack_delete(rack: RackController, user) -> None:
    """Delete a rack, refused while it is the primary DHCP rack of a VLAN."""
    require_admin(user, "delete rack controllers")
    rack = lock(rack)
    serving = [str(v) for v in VLAN.objects.filter(primary_rack=rack, dhcp_on=True)]
    if serving:
        raise InUseError(f"Cannot delete rack {rack.name}: it is the primary DHCP rack for VLAN(s) "
                    f"{', '.join(serving)}; turn DHCP off or pick another rack first.")
    record(user, "rack_deleted", f"Deleted rack {rack.name}.")
    rack.delete()


# --- Rack health (heartbeats) and DHCP failover ------------------------------------------------

_SWEEP_LOCK_KEY = 0x6D6161735F726B  # PostgreSQL advisory lock of the rack status sweep


def rack_dead_after() -> float:
    """Seconds without a heartbeat after which a rack is dead (the RACK_DEAD_AFTER setting)."""
    return float(settings.RACK_DEAD_AFTER)


def rack_status_for(rack: RackController, now: datetime) -> str:
    """Running if its last heartbeat is recent and no service failed; degraded; or dead."""
    if rack.last_heartbeat is None:
        return RackStatus.DEAD
    if (now - rack.last_heartbeat).total_seconds() >= rack_dead_after():
        return RackStatus.DEAD
    if any(state in FAULTY_STATES for state in (rack.services or {}).values()):
        return RackStatus.DEGRADED
    return RackStatus.RUNNING


def rack_apply_status(rack: RackController, status: str) -> bool:
    """Set a (locked) rack's status; write an Event when it changes. True if it changed."""
    previous = rack.status
    if previous == status:
        return False
    rack.status = status
    rack.save(update_fields=["status"])
    level = EventLevel.INFO if status == RackStatus.RUNNING else EventLevel.WARNING
    reason = rack_status_reason(rack)
    event_record(machine=None, type="rack_status", level=level, hostname=rack.name,
                 description=f"Rack {rack.name} is now {status} (was {previous})"
                             + (f": {reason}." if reason else "."))
    return True


def rack_status_sweep(now: datetime | None = None) -> list[tuple[str, str]]:
    """Recompute every rack's status from its heartbeat; return the (name, status) changes.

    Safe with several regions: an advisory lock (PostgreSQL) lets one sweep run at a time, and
    each rack is re-read under its row lock (skip_locked: a heartbeat being recorded wins).
    """
    now = now or timezone.now()
    changed = []
    with transaction.atomic():
        if not _sweep_lock_acquired():
            return changed
        for rack in RackController.objects.select_for_update(skip_locked=True).order_by("name"):
            status = rack_status_for(rack, now)
            if rack_apply_status(rack, status):
                changed.append((rack.name, status))
    return changed


def _sweep_lock_acquired() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SWEEP_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def active_rack_id(vlan: VLAN) -> int | None:
    """The rack serving DHCP for a VLAN: the primary unless dead, else a live secondary."""
    for rack in (vlan.primary_rack, vlan.secondary_rack):
        if rack is not None and rack.status != RackStatus.DEAD:
            return rack.id
    return None


def vlans_served_by(rack: RackController) -> list[VLAN]:
    """The dhcp_on VLANs for which `rack` is currently the active rack."""
    candidates = VLAN.objects.filter(dhcp_on=True).filter(
        Q(primary_rack=rack) | Q(secondary_rack=rack)
    ).select_related("primary_rack", "secondary_rack")
    return [vlan for vlan in candidates if active_rack_id(vlan) == rack.id]
