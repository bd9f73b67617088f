"""The one place that chooses a rack queue and enqueues rack work.

Until racks register (rack controller issue), power work for machines goes to the region
queue's placeholder task, which records the request; see nodes.tasks.
"""
from celery import current_app


def enqueue_power_action(system_id: str, action: str) -> None:
    """Enqueue a power action (`on`, `off`, `cycle`, `query`) for a machine."""
    current_app.send_task(
        "nodes.tasks.record_power_request", args=[system_id, action], queue="region"
    )
