"""Record what racks report about power: state, time, Event; end waiting lifecycle steps."""
from django.db import transaction
from django.utils import timezone

from nodes import lifecycle
from nodes.choices import EventLevel, NodeStatus, PowerState
from nodes.models import Machine
from nodes.services.errors import ActionNotAllowed
from nodes.services.events import event_record
from nodes.services.lifecycle import machine_finish

# A power outcome that ends an in-progress status: purpose -> the status it ends on success.
COMPLETES_ON_SUCCESS = {"release": NodeStatus.RELEASING,
                        "exit-rescue": NodeStatus.EXITING_RESCUE_MODE}
# Purposes whose failure fails the machine's in-progress status.
FAILS_ON_ERROR = frozenset({"release", "job", "exit-rescue"})


def power_result_record(*, system_id: str, action: str, purpose: str, state: str,
                        rack: str = "", request_id: str = "") -> None:
    """A power action succeeded: store the state; a release waiting for power off ends."""
    with transaction.atomic():
        machine = Machine.objects.select_for_update().filter(system_id=system_id).first()
        if machine is None:
            return
        changed = machine.power_state != state
        Machine.objects.filter(pk=machine.pk).update(
            power_state=state, power_state_updated=timezone.now())
        if purpose != "poll" or changed:
            event_record(machine=machine, type="power_" + action.replace("-", "_"),
                         description=f"Power {action} done via {rack or 'rack'}: {state}")
    if purpose in COMPLETES_ON_SUCCESS:
        _finish_if(system_id, COMPLETES_ON_SUCCESS[purpose], success=True, reason="")


def power_failure_record(*, system_id: str, action: str, purpose: str, kind: str,
                         message: str, rack: str = "", request_id: str = "") -> None:
    """A power action failed for good: power_state error, an ERROR Event, no stuck machine."""
    with transaction.atomic():
        machine = Machine.objects.select_for_update().filter(system_id=system_id).first()
        if machine is None:
            return
        Machine.objects.filter(pk=machine.pk).update(
            power_state=PowerState.ERROR, power_state_updated=timezone.now())
        event_record(machine=machine, type="power_error", level=EventLevel.ERROR,
                     description=f"Power {action} failed ({kind}): {message}")
    if purpose in FAILS_ON_ERROR:
        _finish_if(system_id, None, success=False, reason=f"Power {action} failed: {message}")


def _finish_if(system_id: str, status: int | None, *, success: bool, reason: str) -> None:
    """End the machine's in-progress status (only `status` when given) after a power outcome."""
    machine = Machine.objects.filter(system_id=system_id).only("status").first()
    if machine is None or machine.status not in lifecycle.IN_PROGRESS:
        return
    if status is not None and machine.status != status:
        return
    try:
        machine_finish(system_id, success=success, reason=reason)
    except ActionNotAllowed:
        pass  # another outcome (abort, deadline) ended it first
