"""Region Celery task (queue `region`) recording what a rack found behind a chassis.

nodes.tasks imports this module so that the region worker, which autodiscovers `<app>.tasks`,
registers it.
"""
from maasproject.region_tasks import region_task
from nodes.services.chassis import chassis_outcome_record


@region_task("nodes.chassis_tasks.record_chassis_outcome")
def record_chassis_outcome(**outcome) -> list[str]:
    """A rack reports a chassis discovery: the systems it found, or why it found none."""
    return chassis_outcome_record(**outcome)
