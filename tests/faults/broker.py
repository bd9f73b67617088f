"""Messages sent as racks send them, and what a private Redis broker still holds."""
import time

import redis
from celery import Celery

RESULT_TASK = "nodes.tasks.record_power_result"


def rack_app(broker: str) -> Celery:
    """A Celery app as a rack has one: no Django, sends to the region queue by name."""
    return Celery("rack_sim", broker=broker, fixups=[], set_as_current=False)


def send_power_result(app: Celery, request_id: str, system_id: str, state: str) -> None:
    """One power result as a rack reports it (the request id doubles as the task id)."""
    app.send_task(RESULT_TASK, queue="region", task_id=request_id, kwargs={
        "system_id": system_id, "action": state, "purpose": "user", "state": state,
        "rack": "r1", "request_id": request_id})


def drained(client: redis.Redis, queue: str = "region") -> bool:
    """Nothing left to deliver: the queue empty and nothing unacknowledged, twice in a row."""
    for _ in range(2):
        if client.llen(queue) or client.hlen("unacked"):
            return False
        time.sleep(1)
    return True


def worker_ready(log) -> bool:
    """True once the Celery worker logging to `log` has connected and consumes its queues."""
    return " ready." in log.read_text(errors="replace")
