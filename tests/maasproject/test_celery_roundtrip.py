"""A real Celery worker on the `region` queue runs a region task against the test database.

The broker is Redis when CI=true and kombu's filesystem transport otherwise (the embedded
default); the database is the test database of this session, committed with transaction=True.
"""
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from maasproject.celery import app as celery_app
from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from nodes.tasks import expire_status_deadlines
from tests.factories import MachineFactory

PROJECT_DIR = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def _test_database_url() -> str:
    """The URL of the database this test session uses (test_<name> on PostgreSQL)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    assert connection.vendor == "postgresql", connection.vendor
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="maasproject.settings.test",
        DATABASE_URL=_test_database_url(),
        CELERY_BROKER_URL=celery_app.conf.broker_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        VAR_DIR=str(settings.VAR_DIR),
        PYTHONUNBUFFERED="1",
    )
    return env


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


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
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "maasproject", "worker", "-Q", "region",
             "--pool", "solo", "-c", "1", "-l", "info", "--without-mingle", "--without-gossip",
             "--hostname", f"roundtrip-{os.getpid()}@%h"],
            cwd=PROJECT_DIR, env=_worker_env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
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
            f"still {NodeStatus(status).label} after {TIMEOUT}s; worker log:\n{log_text}"
        )
        # The sweep ran in the worker process, not eagerly here.
        assert f"expire_status_deadlines[{result.id}]" in log_text
        machine.refresh_from_db()
        assert "deadline" in machine.error_description
        assert Event.objects.filter(machine=machine, type="status_expired").exists()
    finally:
        _stop(worker)
    assert worker.returncode is not None
