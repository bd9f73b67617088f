"""Region Celery tasks for machines (queue `region`): sweeps, power polling, rack power results."""
import logging
from datetime import timedelta

from maasproject.region_tasks import region_task
from nodes.chassis_tasks import record_chassis_outcome  # noqa: F401 - the region worker registers it
from nodes.services.bootimport import boot_images_import
from nodes.services.deadlines import expire_status_deadlines as expire_deadlines_service
from nodes.services.metadata import heartbeat_sweep as heartbeat_sweep_service
from nodes.services.power import (
    power_failure_record,
    power_receipts_prune,
    power_result_record,
)
from nodes.services.power_pending import power_requests_resend
from nodes.services.power_polling import poll_power_states as poll_power_states_service

logger = logging.getLogger(__name__)
# Redeliveries come within the visibility timeout and the retries (minutes): a day is ample.
POWER_RECEIPT_RETENTION = timedelta(days=1)


@region_task("nodes.tasks.expire_status_deadlines")
def expire_status_deadlines() -> list[str]:
    """Beat task: fail machines whose in-progress deadline has passed."""
    expired = expire_deadlines_service()
    if expired:
        logger.info("Failed %d machine(s) past their deadline: %s", len(expired), expired)
    return expired


@region_task("nodes.tasks.heartbeat_sweep")
def heartbeat_sweep() -> list[str]:
    """Beat task: fail Commissioning/Testing machines whose job runner went silent."""
    failed = heartbeat_sweep_service()
    if failed:
        logger.info("Failed %d machine(s) with a silent runner: %s", len(failed), failed)
    return failed


@region_task("nodes.tasks.poll_power_states")
def poll_power_states() -> int:
    """Beat task: query the power state of this tick's share of machines."""
    return poll_power_states_service()


@region_task("nodes.tasks.record_power_result")
def record_power_result(**outcome) -> None:
    """A rack reports a successful power action."""
    power_result_record(**outcome)


@region_task("nodes.tasks.record_power_failure")
def record_power_failure(**outcome) -> None:
    """A rack reports a power action that failed for good."""
    power_failure_record(**outcome)


@region_task("nodes.tasks.prune_power_receipts")
def prune_power_receipts() -> int:
    """Beat task: forget which power outcomes were recorded once no redelivery can come."""
    return power_receipts_prune(POWER_RECEIPT_RETENTION)


@region_task("nodes.tasks.resend_power_requests")
def resend_power_requests() -> list[str]:
    """Beat task: send again, or fail, power requests whose outcome never came back."""
    return power_requests_resend()


# At most once (acknowledged when a worker takes it): a build lasts minutes, longer than the
# broker's visibility timeout, and one killed midway is asked for again by the user, not
# redelivered forever. A second delivery while one runs finds the marker held and does nothing.
@region_task("nodes.tasks.import_boot_images", acks_late=False)
def import_boot_images() -> str:
    """boot-resources/?op=import: build and register the ephemeral image and the UEFI loaders,
    unless an import runs."""
    outcome = boot_images_import()
    if outcome is None:
        logger.info("Boot image import already running elsewhere: nothing to do")
        return "already running"
    logger.info("Boot image import %s: %s", outcome.state, outcome.message)
    return outcome.state
