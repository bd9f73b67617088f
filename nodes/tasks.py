"""Region Celery tasks for machines (queue `region`)."""
import logging

from celery import shared_task

from nodes.choices import EventLevel
from nodes.models import Machine
from nodes.services.events import event_record
from nodes.services.lifecycle import expire_status_deadlines as expire_deadlines_service

logger = logging.getLogger(__name__)


@shared_task(name="nodes.tasks.expire_status_deadlines")
def expire_status_deadlines() -> list[str]:
    """Beat task: fail machines whose in-progress deadline has passed."""
    expired = expire_deadlines_service()
    if expired:
        logger.info("Failed %d machine(s) past their deadline: %s", len(expired), expired)
    return expired


@shared_task(name="nodes.tasks.start_machine_job")
def start_machine_job(system_id: str, job: str) -> None:
    """Start a netboot job (commissioning, testing, deploy, erase, rescue) for a machine.

    The boot path arrives with the rack and boot-image issues; until then the job is recorded
    and the machine waits in its in-progress status until its deadline fails it.
    """
    machine = Machine.objects.filter(system_id=system_id).first()
    if machine is None:
        return
    event_record(
        machine=machine, type="job_queued", level=EventLevel.WARNING,
        description=f"{job} job queued; no rack controller can boot it yet",
    )


@shared_task(name="nodes.tasks.record_power_request")
def record_power_request(system_id: str, action: str) -> None:
    """Record a power request until power drivers and rack dispatch exist (power issue)."""
    machine = Machine.objects.filter(system_id=system_id).first()
    if machine is None:
        return
    level = EventLevel.INFO if machine.power_type == "manual" else EventLevel.WARNING
    how = ("power type manual: the operator does it" if machine.power_type == "manual"
           else f"power type {machine.power_type} has no driver yet")
    event_record(machine=machine, type="power_request", level=level,
                 description=f"Power {action} requested; {how}")
