"""Lifecycle services: lock the row, check the table, transition, save, record, enqueue."""
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from nodes import lifecycle
from nodes.choices import EventLevel, NodeStatus
from nodes.metrics import transition_count
from nodes.models import Machine
from nodes.models.machine import TRANSITIONS
from nodes.selectors import commissioning_passed
from nodes.services.errors import ActionNotAllowed
from nodes.services.events import event_record
from nodes.services.jobs import job_close
from nodes.services.links import machine_links_release
from nodes.services.permissions import require_action_permission
from zones.choices import IPAddressAllocType
from zones.models import StaticIPAddress


def lock_machine(system_id: str) -> Machine:
    """Fetch a machine and lock its row until the end of the transaction."""
    return Machine.objects.select_for_update().get(system_id=system_id)


def check_action(machine: Machine, action: str) -> None:
    """Raise ActionNotAllowed unless the table allows `action` for this machine."""
    if action not in lifecycle.allowed_actions(machine.status, machine.locked):
        raise ActionNotAllowed(machine, action)
    for requirement in sorted(lifecycle.ACTIONS[action].requires):
        met, reason = PRECONDITIONS[requirement]
        if not met(machine):
            raise ActionNotAllowed(machine, action, reason=reason)


# What each precondition of the table checks, and why the action is refused when it fails.
PRECONDITIONS: dict[str, tuple[Callable[[Machine], bool], str]] = {
    lifecycle.COMMISSIONING_PASSED: (
        commissioning_passed, "its commissioning never passed (commission it first)"),
}


def update_deadline(machine: Machine) -> None:
    """Set status_expires for an in-progress status, clear it for a resting one."""
    seconds = lifecycle.status_timeout_seconds(
        machine.status, settings.MACHINE_STATUS_TIMEOUT, settings.MACHINE_RELEASING_TIMEOUT
    )
    machine.status_expires = timezone.now() + timedelta(seconds=seconds) if seconds else None


def run_action(
    system_id: str,
    action: str,
    user,
    *,
    fsm_kwargs: dict | None = None,
    change: Callable[[Machine], None] | None = None,
    send: Callable[[], None] | None = None,
    note: str = "",
) -> Machine:
    """Perform a user action on a machine: the single write path for every action.

    `send` (the rack work the action starts) runs last inside the transaction, not after it:
    a broker that cannot take the message raises, the action rolls back, and the client gets
    a 503 with nothing saved (see nodes.services.power.dispatch_power).
    """
    with transaction.atomic():
        machine = lock_machine(system_id)
        require_action_permission(user, machine, action)
        check_action(machine, action)
        apply_action(machine, action, user, fsm_kwargs=fsm_kwargs, change=change, note=note)
        if send is not None:
            send()
    return machine


def apply_action(
    machine: Machine,
    action: str,
    user,
    *,
    fsm_kwargs: dict | None = None,
    change: Callable[[Machine], None] | None = None,
    note: str = "",
) -> None:
    """Transition an already locked and checked machine, save it and write the Event."""
    before = machine.status
    if lifecycle.ACTIONS[action].target != lifecycle.UNCHANGED:
        TRANSITIONS[action](machine, **(fsm_kwargs or {}))
    if machine.status != before and machine.status not in lifecycle.FAILED_STATUSES:
        machine.error_description = ""
    if change is not None:
        change(machine)
    if machine.status != before:
        update_deadline(machine)
    machine.save()
    transition_count(before, machine.status)
    event_record(
        machine=machine,
        type=action,
        level=EventLevel.AUDIT if user is not None else EventLevel.INFO,
        user=user,
        description=_describe(before, machine.status, note),
    )


def _describe(before: int, after: int, note: str) -> str:
    text = (
        f"{NodeStatus(before).label} → {NodeStatus(after).label}"
        if before != after else f"status {NodeStatus(after).label}"
    )
    return f"{text}; {note}" if note else text


def machine_finish(system_id: str, *, success: bool, reason: str = "") -> Machine:
    """End the in-progress work of a machine with success or failure (called by tasks)."""
    with transaction.atomic():
        machine = lock_machine(system_id)
        if machine.status not in lifecycle.IN_PROGRESS:
            raise ActionNotAllowed(machine, "finish", reason=f"it is {machine.status_name}")
        before = machine.status
        machine.complete() if success else machine.fail()
        if not success:
            machine.error_description = reason
        job_close(machine)
        if machine.status == NodeStatus.READY and before in (
            NodeStatus.RELEASING, NodeStatus.DISK_ERASING
        ):
            clear_ownership(machine)
        update_deadline(machine)
        machine.save()
        transition_count(before, machine.status)
        event_record(
            machine=machine,
            type="status_" + ("succeeded" if success else "failed"),
            level=EventLevel.INFO if success else EventLevel.ERROR,
            description=_describe(before, machine.status, reason),
        )
    return machine


def clear_ownership(machine: Machine) -> None:
    """Return a released machine to the pool: no owner, no user data, no deployed OS, and its
    automatically allocated addresses released (sticky and user-reserved ones stay, as in
    MAAS)."""
    machine.owner = None
    machine.user_data = ""
    machine.osystem = ""
    machine.distro_series = ""
    machine.netboot = True
    machine_links_release(machine)  # before the rest: a link's address is released through it
    StaticIPAddress.objects.filter(
        interface__machine=machine, alloc_type=IPAddressAllocType.AUTO
    ).delete()


def sweep_lock_acquired(key: int) -> bool:
    """Take a transaction-scoped PostgreSQL advisory lock for a sweep (always true elsewhere)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        # Released at commit, so a crashed sweep never holds it.
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        return bool(cursor.fetchone()[0])
