"""Power requests whose outcome never came back: sent again, then failed with an event.

A rack's result can be lost on the way (a region worker killed between kombu's BRPOP and its
bookkeeping, celery/kombu#305) and a rack can die holding a request and never come back. The
region knows what it sent (PendingPowerRequest), so it does not wait for the machine's status
deadline: a request with no outcome after POWER_RESULT_TIMEOUT goes again, with the same
request id, to a healthy rack (a dead rack is no longer one); after POWER_RESULT_ATTEMPTS it
fails as a dead BMC would. Sending twice is safe: power actions are idempotent at the BMC and
an outcome is recorded once per request id.
"""
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from nodes.choices import EventLevel
from nodes.models import Machine, PendingPowerRequest
from nodes.services.events import event_record
from nodes.services.power import power_failure_record, power_send
from power.services.requests import power_is_manual, power_request

logger = logging.getLogger(__name__)
BATCH = 200  # requests handled per sweep; the rest wait for the next tick


def power_requests_resend(now: datetime | None = None) -> list[str]:
    """Send again, or fail, the requests overdue at `now`; return their request ids."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.POWER_RESULT_TIMEOUT)
    with transaction.atomic():
        # skip_locked: two regions sweeping at once share the work instead of doubling it.
        overdue = list(PendingPowerRequest.objects.filter(sent__lt=cutoff).order_by("sent")
                       .select_for_update(skip_locked=True)[:BATCH])
        for pending in overdue:
            _resend_or_fail(pending, now)
    if overdue:
        logger.info("Power requests with no outcome in time: %d sent again or failed.",
                    len(overdue))
    return [pending.request_id for pending in overdue]


def _resend_or_fail(pending: PendingPowerRequest, now: datetime) -> None:
    """One overdue request: fail it when out of attempts, else send it again."""
    machine = Machine.objects.select_related("bmc").filter(system_id=pending.system_id).first()
    if machine is None or power_is_manual(machine.power_type):
        pending.delete()  # nothing left to drive
        return
    if pending.attempts >= settings.POWER_RESULT_ATTEMPTS:
        waited = (now - pending.created).total_seconds()
        power_failure_record(
            system_id=pending.system_id, action=pending.action, purpose=pending.purpose,
            kind="NoPowerResult", rack=pending.rack, request_id=pending.request_id,
            message=f"no outcome from {pending.rack} after {pending.attempts} attempt(s) "
                    f"in {waited:.0f} s")
        return
    request = power_request(machine, pending.action, pending.purpose, pending.netboot,
                            request_id=pending.request_id)
    queue = power_send(machine, request)
    if queue is None:
        return  # no healthy rack: power_send fails the request at commit
    event_record(machine=machine, type="power_retry", level=EventLevel.WARNING,
                 description=f"Power {pending.action}: no outcome from {pending.rack} in "
                             f"{settings.POWER_RESULT_TIMEOUT} s; sent again to {queue} "
                             f"(attempt {pending.attempts + 1} of "
                             f"{settings.POWER_RESULT_ATTEMPTS})")
    PendingPowerRequest.objects.filter(pk=pending.pk).update(
        attempts=pending.attempts + 1, sent=now, rack=queue)
