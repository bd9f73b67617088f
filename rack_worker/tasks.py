"""Celery tasks that run on rack queues: pure work, results reported to the region queue."""
import logging
import os
import socket
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_revoked

from bootsvc.metrics import power_call_count
from power.drivers.base import PowerError
from rack_worker.celery_app import app
from rack_worker.client import POWER_TASK
from rack_worker.power import DeadlineExceeded, call_with_deadline, perform_power_action
from rack_worker.sealing import SealError, power_key, unseal

logger = logging.getLogger(__name__)
RESULT_TASK = "nodes.tasks.record_power_result"
FAILURE_TASK = "nodes.tasks.record_power_failure"
POWER_SOFT_LIMIT = int(os.environ.get("POWER_TASK_SOFT_LIMIT", "60"))
POWER_MAX_RETRIES = int(os.environ.get("POWER_TASK_MAX_RETRIES", "3"))
RETRY_BACKOFF = float(os.environ.get("POWER_TASK_RETRY_BACKOFF", "2"))
# The BMC has acted by the time the outcome is reported: a broker that is down then (Redis
# restarting) must delay the report, not lose it (Celery's default gives up after about a
# second). Waits of 0.5 s growing to 5 s, for about 10 minutes, in the pool process.
REPORT_RETRY_POLICY = {"max_retries": 125, "interval_start": 0.5, "interval_step": 0.5,
                       "interval_max": 5}


@app.task(name=POWER_TASK, bind=True, max_retries=POWER_MAX_RETRIES,
          soft_time_limit=POWER_SOFT_LIMIT, time_limit=POWER_SOFT_LIMIT + 30)
def power(self, request: dict[str, Any]) -> str | None:
    """Perform a power request; retry transient failures with backoff, report the outcome."""
    try:
        request = unseal(request, power_key())
    except SealError as exc:
        report(FAILURE_TASK, request, kind="PowerKeyError", message=f"Cannot open the power "
               f"parameters: {exc}.")
        return None
    notes: list[str] = []
    try:
        state = call_with_deadline(lambda: perform_power_action(request, notes),
                                   POWER_SOFT_LIMIT)
    except PowerError as exc:
        retry_if_transient(self, exc, f"Power {request['action']} for {request['system_id']}")
        report(FAILURE_TASK, request, kind=type(exc).__name__, message=str(exc))
        return None
    except (DeadlineExceeded, SoftTimeLimitExceeded):
        report(FAILURE_TASK, request, kind="PowerTimeoutError",
               message=f"No answer from the BMC within {POWER_SOFT_LIMIT}s.")
        return None
    # Only when there are notes: a region from before notes existed accepts the rest.
    report(RESULT_TASK, request, state=state, **({"notes": notes} if notes else {}))
    return state


def retry_if_transient(task, exc: PowerError, what: str) -> None:
    """Retry the task with exponential backoff (Celery's Retry is raised) when the driver's
    error is transient and retries remain; else return, and the caller reports the failure."""
    if exc.retryable and task.request.retries < task.max_retries:
        countdown = RETRY_BACKOFF * 2 ** task.request.retries
        logger.warning("%s failed (%s); retry in %.0fs", what, type(exc).__name__, countdown)
        raise task.retry(exc=exc, countdown=countdown) from None


@task_revoked.connect
def report_expired(sender=None, request=None, expired: bool = False, **_kwargs) -> None:
    """A power request that expired before it started is reported failed, never dropped.

    Celery acknowledges an expired message and skips it; without this the region would never
    hear of the request (rack_worker.client says why requests expire).
    """
    if not expired or getattr(sender, "name", None) != POWER_TASK or not request.args:
        return
    logger.warning("Power request %s expired before it started", request.id)
    report(FAILURE_TASK, request.args[0], kind="PowerRequestExpired",
           message=f"Not carried out: this rack could not start it before it expired at "
                   f"{request.expires} (rack worker down or overloaded). Ask again.")


def report(task_name: str, request: dict[str, Any], **outcome: Any) -> None:
    """Send the outcome of a request to the region queue (secrets left out)."""
    summary = {key: request.get(key) for key in ("system_id", "action", "purpose", "request_id")}
    power_call_count(request, "success" if task_name == RESULT_TASK else outcome.get("kind", ""))
    send_to_region(task_name, {**summary, **outcome})


def send_to_region(task_name: str, kwargs: dict[str, Any]) -> None:
    """A region task with this rack's name, retried while the broker is down (the rack has
    acted by then: its outcome must be delayed, not lost)."""
    app.send_task(task_name, kwargs={**kwargs, "rack": rack_name()}, queue="region",
                  retry=True, retry_policy=REPORT_RETRY_POLICY)


def rack_name() -> str:
    return os.environ.get("RACK_NAME") or socket.gethostname()
