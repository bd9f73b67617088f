"""maasproject.backends.broker_persistence_problem against real Redis servers, and the region
worker's warning at start."""
import pytest

from maasproject.backends import broker_persistence_problem
from tests.faults.broker import worker_ready
from tests.processes import (
    free_tcp_port,
    region_worker_args,
    start,
    start_redis,
    stop,
    wait_until,
)


@pytest.mark.integration
def test_a_redis_without_appendonly_is_a_problem_and_one_with_it_is_not(tmp_path):
    volatile, volatile_url = start_redis(tmp_path)
    durable, durable_url = start_redis(tmp_path, appendonly=True)
    try:
        assert "appendonly no" in broker_persistence_problem(volatile_url)
        assert broker_persistence_problem(durable_url) is None
    finally:
        stop(volatile)
        stop(durable)


def test_nothing_is_said_of_a_broker_that_cannot_be_asked():
    assert broker_persistence_problem(f"redis://127.0.0.1:{free_tcp_port()}/0") is None
    assert broker_persistence_problem("filesystem://localhost/") is None


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_region_worker_warns_at_start_about_a_volatile_broker(tmp_path, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    server, url = start_redis(tmp_path)
    log = tmp_path / "worker.log"
    worker = start(region_worker_args("volatile"), log, CELERY_BROKER_URL=url)
    try:
        wait_until(lambda: worker_ready(log), 60, log.read_text)
        wait_until(lambda: "appendonly no" in log.read_text(), 10, log.read_text)
        assert "WARNING" in next(line for line in log.read_text().splitlines()
                                 if "appendonly no" in line)
    finally:
        stop(worker)
        stop(server)
