"""Region Celery tasks for machines (queue `region`)."""
import logging

from celery import shared_task

from nodes.services.lifecycle import expire_status_deadlines as expire_deadlines_service
from nodes.services.metadata import heartbeat_sweep as heartbeat_sweep_service

logger = logging.getLogger(__name__)


@shared_task(name="nodes.tasks.expire_status_deadlines")
def expire_status_deadlines() -> list[str]:
    """Beat task: fail machines whose in-progress deadline has passed."""
    expired = expire_deadlines_service()
    if expired:
        logger.info("Failed %d machine(s) past their deadline: %s", len(expired), expired)
    return expired


@shared_task(name="nodes.tasks.heartbeat_sweep")
def heartbeat_sweep() -> list[str]:
    """Beat task: fail Commissioning/Testing machines whose job runner went silent."""
    failed = heartbeat_sweep_service()
    if failed:
        logger.info("Failed %d machine(s) with a silent runner: %s", len(failed), failed)
    return failed
