"""Power and the machine: send power requests to racks, and the one place power results enter.

power.services builds the request a rack needs (BMC, driver, secrets); this module decides what
a request and its outcome mean for a machine: events, power state, and the lifecycle step a
release or a job was waiting on. Rack results reach it through nodes.tasks, at least once: an
outcome is recorded once per request id (PowerResultReceipt), so a redelivery changes nothing.
"""
import logging
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from nodes import lifecycle
from nodes.choices import EventLevel, NodeStatus, PowerState
from nodes.metrics import power_result_count
from nodes.models import Machine, PendingPowerRequest, PowerResultReceipt
from nodes.services.errors import ActionNotAllowed
from nodes.services.events import event_record
from nodes.services.lifecycle import machine_finish
from power.services.requests import power_is_manual, power_request
from rack_worker.client import choose_rack, enqueue_power
from zones.selectors import healthy_racks

logger = logging.getLogger(__name__)

# A power outcome that ends an in-progress status: purpose -> the status it ends on success.
COMPLETES_ON_SUCCESS = {"release": NodeStatus.RELEASING,
                        "exit-rescue": NodeStatus.EXITING_RESCUE_MODE}
# Purposes whose failure fails the machine's in-progress status.
FAILS_ON_ERROR = frozenset({"release", "job", "exit-rescue"})


def dispatch_power(system_id: str, action: str, *, purpose: str = "user",
                   netboot: bool = False) -> str | None:
    """Send a power action to a rack that can reach the BMC; return the queue used.

    A manual machine has nothing to drive: the operator does it, and that is recorded.
    No healthy rack fails the request at once, as a dead BMC would.

    Call it inside the transaction that decided the action, as its last step, never after
    commit: if the broker cannot take the message, send_task raises, the transaction rolls
    back (no event, no status change) and the API answers 503; a worker task retries. Sent
    after commit, a broker outage left the action saved and its power request lost. The
    reverse (sent, then the commit fails) is harmless: power actions are idempotent at the
    BMC and the rack's result is recorded by itself, as any power result is. A transactional
    outbox would also hold but needs a table, a drainer and its lock for no gain here.
    """
    machine = Machine.objects.select_related("bmc").get(system_id=system_id)
    if power_is_manual(machine.power_type):
        event_record(machine=machine, type="power_request",
                     description=f"Power {action}: power type {machine.power_type}, "
                                 "the operator does it")
        return None
    return power_send(machine, power_request(machine, action, purpose, netboot))


def power_send(machine: Machine, request: dict) -> str | None:
    """Send a built request to a healthy rack and track it until its outcome; the queue used.

    No healthy rack fails the request once the caller commits, as a dead BMC would. A poll is
    not tracked: the next poll asks again anyway.
    """
    rack = choose_rack(request["address"], healthy_racks())
    outcome = {key: request[key] for key in ("system_id", "action", "purpose", "request_id")}
    if rack is None:
        transaction.on_commit(partial(
            power_failure_record, **outcome, kind="NoRackAvailable",
            message="No healthy rack controller can reach this BMC."))
        return None
    enqueue_power(request, rack)
    if request["purpose"] != "poll":
        power_request_track(request, rack.queue)
    event_record(machine=machine, type="power_request", level=EventLevel.DEBUG,
                 description=f"Power {request['action']} sent to {rack.queue}")
    return rack.queue


def power_request_track(request: dict, queue: str) -> None:
    """Remember a sent request until its outcome; it supersedes the machine's older ones
    (a power off after a lost power on must not see that power on sent again)."""
    PendingPowerRequest.objects.filter(system_id=request["system_id"]).exclude(
        request_id=request["request_id"]).delete()
    PendingPowerRequest.objects.update_or_create(
        request_id=request["request_id"],
        defaults={"system_id": request["system_id"], "action": request["action"],
                  "purpose": request["purpose"], "netboot": request["netboot"],
                  "rack": queue, "sent": timezone.now()})


def machine_finish_and_power_off(system_id: str, *, success: bool, reason: str = "") -> Machine:
    """End a machine's job as machine_finish does, then send a power-off to its rack.

    Call it inside the caller's transaction, as its last step: a broker that cannot take the
    power-off raises and the whole step rolls back (dispatch_power says why).
    """
    machine = machine_finish(system_id, success=success, reason=reason)
    dispatch_power(system_id, "off")
    return machine


def power_result_record(*, system_id: str, action: str, purpose: str, state: str,
                        rack: str = "", request_id: str = "", notes: list[str] = ()) -> None:
    """A power action succeeded: store the state, a WARNING Event per driver note (a fake BMC
    no simulator runs); a release waiting for power off ends."""
    with transaction.atomic():
        machine = Machine.objects.select_for_update().filter(system_id=system_id).first()
        if machine is None or not _first_delivery(request_id, system_id):
            return
        if _poll_overtaken(machine, purpose):
            return
        changed = machine.power_state != state
        Machine.objects.filter(pk=machine.pk).update(
            power_state=state, power_state_updated=timezone.now())
        power_result_count(action, "success")
        if purpose != "poll" or changed:
            event_record(machine=machine, type="power_" + action.replace("-", "_"),
                         description=f"Power {action} done via {rack or 'rack'}: {state}")
        for note in notes:
            event_record(machine=machine, type="power_warning", level=EventLevel.WARNING,
                         description=f"Power {action} via {rack or 'rack'}: {note}")
        if purpose in COMPLETES_ON_SUCCESS:
            _finish_if(system_id, COMPLETES_ON_SUCCESS[purpose], success=True, reason="")


def power_failure_record(*, system_id: str, action: str, purpose: str, kind: str,
                         message: str, rack: str = "", request_id: str = "") -> None:
    """A power action failed for good: power_state error, an ERROR Event, no stuck machine."""
    with transaction.atomic():
        machine = Machine.objects.select_for_update().filter(system_id=system_id).first()
        if machine is None or not _first_delivery(request_id, system_id):
            return
        if _poll_overtaken(machine, purpose):
            return
        Machine.objects.filter(pk=machine.pk).update(
            power_state=PowerState.ERROR, power_state_updated=timezone.now())
        power_result_count(action, kind)
        event_record(machine=machine, type="power_error", level=EventLevel.ERROR,
                     description=f"Power {action} failed ({kind}): {message}")
        if purpose in FAILS_ON_ERROR:
            _finish_if(system_id, None, success=False,
                       reason=f"Power {action} failed: {message}")


def _poll_overtaken(machine: Machine, purpose: str) -> bool:
    """True for a poll's outcome when another outcome was stored after the poll was sent.

    A poll and a power on run side by side on the rack: the poll may read "off" just before
    qemu or the BMC turns on and report after the power on did. Stored last, its older
    reading would stand until the next poll, minutes later, and say a deployed machine is off.
    """
    if purpose != "poll" or machine.power_poll_claimed is None:
        return False
    updated = machine.power_state_updated
    if updated is None or updated <= machine.power_poll_claimed:
        return False
    logger.debug("Poll of %s sent at %s overtaken by the outcome stored at %s; ignored.",
                 machine.system_id, machine.power_poll_claimed, updated)
    return True


def _first_delivery(request_id: str | None, system_id: str) -> bool:
    """Claim an outcome by its request id in the caller's transaction; False if already done.

    The receipt commits with the outcome's effects or not at all, so a redelivered result (a
    worker killed after the commit but before the acknowledgement) finds it and is a no-op.
    An outcome without a request id (no rack was available) has nothing to repeat it.
    """
    if not request_id:
        return True
    PendingPowerRequest.objects.filter(request_id=request_id).delete()
    try:
        with transaction.atomic():
            PowerResultReceipt.objects.create(request_id=request_id, system_id=system_id)
    except IntegrityError:
        logger.debug("Power outcome of request %s for %s already recorded; ignored.",
                     request_id, system_id)
        return False
    return True


def power_receipts_prune(older_than: timedelta) -> int:
    """Delete receipts older than any redelivery can be; return how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = PowerResultReceipt.objects.filter(created__lt=cutoff).delete()
    return deleted


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
