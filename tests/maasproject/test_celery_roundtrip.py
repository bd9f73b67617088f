"""A real Celery worker on the `region` queue runs a region task against the test database.

The broker is Redis when CI=true and kombu's filesystem transport otherwise (the embedded
default); the database is the test database of this session, committed with transaction=True.
"""
import subprocess
import time
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from maasproject.celery import app as celery_app
from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from nodes.tasks import expire_status_deadlines
from tests.factories import MachineFactory
from tests.faults.broker import worker_ready
from tests.processes import region_worker_args, start, stop, wait_until

TIMEOUT = 60


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_region_worker_fails_expired_machine(tmp_path):
    assert not celery_app.conf.task_always_eager, "the round trip needs a real broker"
    machine = MachineFactory(
        status=NodeStatus.COMMISSIONING,
        status_expires=timezone.now() - timedelta(minutes=5),
        previous_status=NodeStatus.NEW,
    )
    log_path = tmp_path / "worker.log"
    worker = start(region_worker_args("roundtrip"), log_path)
    try:
        # Sent once the worker consumes, as beat sends it in production. In the full CI order
        # this task once went to rack.unassigned: an import had made the rack's Celery app the
        # current one (test_region_tasks guards that now); broker_report says where things are.
        wait_until(lambda: worker_ready(log_path), TIMEOUT, log_path.read_text)
        result = expire_status_deadlines.apply_async()
        deadline = time.monotonic() + TIMEOUT
        status = machine.status
        while time.monotonic() < deadline:
            status = Machine.objects.values_list("status", flat=True).get(pk=machine.pk)
            if status == NodeStatus.FAILED_COMMISSIONING:
                break
            assert worker.poll() is None, "worker died:\n" + log_path.read_text()
            time.sleep(0.5)
        log_text = log_path.read_text()
        assert status == NodeStatus.FAILED_COMMISSIONING, (
            f"still {NodeStatus(status).label} after {TIMEOUT}s; worker log:\n{log_text}\n"
            + broker_report()
        )
        # The sweep ran in the worker process, not eagerly here.
        assert f"expire_status_deadlines[{result.id}]" in log_text
        machine.refresh_from_db()
        assert "deadline" in machine.error_description
        assert Event.objects.filter(machine=machine, type="status_expired").exists()
    finally:
        stop(worker)
    assert worker.returncode is not None


def broker_report() -> str:
    """Who else reads the broker, and what it still holds: for a message that never came."""
    url = celery_app.conf.broker_url
    with celery_app.producer_or_acquire() as producer:
        lines = [f"conf {url}; producer {producer.connection.as_uri()}"]
    if url.startswith("redis"):
        client = redis.Redis.from_url(url)
        lines.append(f"region queue: {client.llen('region')}, unacked: {client.hlen('unacked')}")
        lines += [f"client {c.get('addr')} cmd={c.get('cmd')} db={c.get('db')} name={c.get('name')}"
                  for c in client.client_list()]
    ps = subprocess.run(["ps", "-eo", "pid,ppid,etimes,args"], capture_output=True, text=True)
    lines += [line for line in ps.stdout.splitlines() if "python" in line]
    return "\n".join(lines)
