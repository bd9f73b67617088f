"""Region Celery tasks for zones (queue `region`): rack health from heartbeats."""
import logging

from maasproject.region_tasks import region_task
from zones.services.racks import rack_status_sweep as rack_status_sweep_service

logger = logging.getLogger(__name__)


@region_task("zones.tasks.rack_status_sweep")
def rack_status_sweep() -> list[tuple[str, str]]:
    """Beat task: mark racks running, degraded or dead from their last heartbeat."""
    changed = rack_status_sweep_service()
    for name, status in changed:
        logger.info("Rack %s is now %s.", name, status)
    return changed
