"""rack_worker.tasks.report: an outcome reported while the broker is down waits for it (the BMC
has already acted), and reaches the region queue once it is back, without the secrets."""
import base64
import json
import threading
import time

import pytest
import redis
from celery import Celery

from rack_worker import tasks
from rack_worker.power import DeadlineExceeded, call_with_deadline
from tests.processes import free_tcp_port, start_redis, stop

DOWN_FOR = 3.0  # seconds the broker is away when the outcome is reported


@pytest.fixture
def broker_later(tmp_path, monkeypatch):
    """The rack's app pointed at a Redis port that answers only DOWN_FOR seconds from now."""
    # Celery prefers $CELERY_BROKER_URL (set under CI) to the broker an app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    port = free_tcp_port()
    url = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setattr(tasks, "app", Celery("rack_test", broker=url, fixups=[],
                                             set_as_current=False))
    servers = []
    timer = threading.Timer(DOWN_FOR, lambda: servers.append(start_redis(tmp_path, port)))
    timer.start()
    yield url
    timer.cancel()
    timer.join()
    for server, _url in servers:
        stop(server)


@pytest.mark.integration
def test_an_outcome_reported_while_redis_is_down_arrives_when_it_is_back(broker_later):
    request = {"system_id": "abc123", "action": "on", "purpose": "job", "request_id": "r-1",
               "params": {"power_pass": "s3cr3t-pw"}}
    started = time.monotonic()
    tasks.report(tasks.RESULT_TASK, request, state="on", notes=[])
    waited = time.monotonic() - started
    assert waited >= DOWN_FOR - 0.5  # it waited for the broker rather than give up
    [raw] = redis.Redis.from_url(broker_later).lrange("region", 0, -1)
    assert b"s3cr3t-pw" not in raw
    message = json.loads(raw)
    assert message["headers"]["task"] == tasks.RESULT_TASK
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert kwargs["request_id"] == "r-1" and kwargs["state"] == "on"
    assert kwargs["system_id"] == "abc123" and "params" not in kwargs


def test_a_call_past_its_deadline_fails_without_waiting_for_it():
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="within 0.2s"):
        call_with_deadline(lambda: time.sleep(3), 0.2)
    assert time.monotonic() - started < 1.5


def test_a_call_within_its_deadline_returns_its_value_or_raises_its_error():
    assert call_with_deadline(lambda: "on", 5) == "on"
    with pytest.raises(TimeoutError, match="BMC socket"):  # the driver's, not the deadline
        call_with_deadline(lambda: (_ for _ in ()).throw(TimeoutError("BMC socket")), 5)
