"""Status deadlines: fail machines whose in-progress status outlived its timeout, power them off."""
from django.db import transaction
from django.utils import timezone

from nodes import lifecycle
from nodes.choices import EventLevel
from nodes.models import Machine
from nodes.services.events import event_record
from nodes.services.jobs import job_close
from nodes.services.lifecycle import sweep_lock_acquired
from nodes.services.power import dispatch_power
from nodes.services.timeline import last_step_seen

# Advisory lock key of the sweep, chosen once.
DEADLINE_SWEEP_LOCK = 0x6D6161735F6578


def expire_status_deadlines(now=None) -> list[str]:
    """Fail every machine whose in-progress deadline passed; return their system ids.

    Safe with several regions: one holds a PostgreSQL advisory lock for the sweep, and each
    row is re-checked under its own row lock (skip_locked) before it is failed.
    """
    now = now or timezone.now()
    expired = []
    with transaction.atomic():
        if not sweep_lock_acquired(DEADLINE_SWEEP_LOCK):
            return expired
        candidates = Machine.objects.select_for_update(skip_locked=True).filter(
            status__in=list(lifecycle.IN_PROGRESS), status_expires__lt=now
        )
        for machine in candidates:
            _expire(machine)
            expired.append(machine.system_id)
        # Inside the transaction: with the broker down the sweep rolls back and is retried.
        for system_id in expired:
            dispatch_power(system_id, "off")
    return expired


def _expire(machine: Machine) -> None:
    name = machine.status_name
    step = last_step_seen(machine)  # before fail(): its hint reads the in-progress state
    machine.fail()
    machine.error_description = f"Timed out: {name} did not finish before its deadline" + (
        f"; last step seen: {step}" if step else ".")
    machine.status_expires = None
    machine.save()
    job_close(machine)
    event_record(
        machine=machine, type="status_expired", level=EventLevel.ERROR,
        description=f"{machine.error_description} Now {machine.status_name}; powering off.",
    )
