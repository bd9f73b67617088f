"""Chassis discovery on a rack queue: find the systems behind a chassis, report them to the region.

The request arrives sealed as power requests do (rack_worker.sealing); transient failures
(chassis unreachable, no answer) are retried with the power tasks' backoff, fatal ones (refused
credentials, bad settings) never. The outcome goes to a region task with the request's own
fields (its `context` is the region's and comes back untouched), never the parameters.
"""
import logging
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from power.drivers.base import PowerError
from power.drivers.chassis import discover
from rack_worker.celery_app import app
from rack_worker.client import CHASSIS_RESULT_TASK, CHASSIS_TASK
from rack_worker.power import DeadlineExceeded, call_with_deadline
from rack_worker.sealing import SealError, power_key, unseal
from rack_worker.tasks import (
    POWER_MAX_RETRIES,
    POWER_SOFT_LIMIT,
    retry_if_transient,
    send_to_region,
)

logger = logging.getLogger(__name__)
# A chassis answers one request per system and per NIC: allow it more than one power call.
DISCOVERY_LIMIT = 2 * POWER_SOFT_LIMIT
REPORTED = ("request_id", "chassis_type", "hostname", "context")


@app.task(name=CHASSIS_TASK, bind=True, max_retries=POWER_MAX_RETRIES,
          soft_time_limit=DISCOVERY_LIMIT, time_limit=DISCOVERY_LIMIT + 30)
def discover_chassis(self, request: dict[str, Any]) -> int | None:
    """Discover the chassis' systems; retry transient failures; report systems or the error."""
    try:
        request = unseal(request, power_key())
    except SealError as exc:
        return report(request, kind="PowerKeyError",
                      message=f"Cannot open the chassis parameters: {exc}.")
    params = request.get("params", {})
    try:
        systems = call_with_deadline(lambda: discover(request["chassis_type"], params),
                                     DISCOVERY_LIMIT)
    except PowerError as exc:
        retry_if_transient(self, exc, f"Chassis discovery of {request.get('hostname')}")
        return report(request, kind=type(exc).__name__, message=scrub(str(exc), request),
                      attempts=self.request.retries + 1)
    except (DeadlineExceeded, SoftTimeLimitExceeded):
        return report(request, kind="PowerTimeoutError",
                      message=f"No answer from the chassis within {DISCOVERY_LIMIT}s.")
    except Exception as exc:  # noqa: BLE001 - a chassis answering nonsense; the region must hear
        logger.exception("Chassis discovery of %s failed", request.get("hostname"))
        return report(request, kind="DiscoveryError",
                      message=scrub(f"{type(exc).__name__}: {exc}", request))
    report(request, systems=[system.to_dict() for system in systems])
    return len(systems)


def scrub(text: str, request: dict[str, Any]) -> str:
    """The message without any secret parameter's value (drivers scrub theirs; this is a net)."""
    for name in request.get("secret_fields", ()):
        value = str(request.get("params", {}).get(name) or "")
        if value:
            text = text.replace(value, "********")
    return text


def report(request: dict[str, Any], **outcome: Any) -> None:
    """Send the outcome to the region queue: the request's own fields, never its parameters."""
    send_to_region(CHASSIS_RESULT_TASK, {**{key: request.get(key) for key in REPORTED},
                                         **outcome})
