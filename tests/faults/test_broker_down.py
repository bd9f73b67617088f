"""Redis down under a live region: a power action answers 503 with Retry-After and saves
nothing (no event, machine unchanged); with Redis back the same call is saved and sent.

The power request is sent inside the action's transaction (nodes.services.power.dispatch_power):
a broker that refuses it rolls the action back. Redis and PostgreSQL of the test's own.
"""
import json
import time

import pytest
import redis

from tests.faults.region import call, manage, prepare_database, start_web
from tests.processes import free_tcp_port, process_env, start_redis, stop

SETUP = """
from nodes.choices import NodeStatus
from power.services.parameters import machine_set_power
from tests.factories import MachineFactory, RackControllerFactory, UserFactory
RackControllerFactory(name="r1", status="running")
machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=UserFactory(), power_type="ipmi")
machine_set_power(machine, "ipmi", {"power_address": "10.5.0.21", "power_user": "admin",
                                    "power_pass": "pw"})
machine.save()
print(machine.system_id)
"""
EVENTS = """
from nodes.models import Event, Machine
m = Machine.objects.get(system_id="{sid}")
print(Event.objects.filter(machine=m).count(), m.status, m.power_state)
"""


def state(env: dict, system_id: str) -> list[str]:
    """[event count, status, power state] of the machine."""
    out = manage(env, "shell", "--no-imports", "-c", EVENTS.format(sid=system_id))
    return out.strip().splitlines()[-1].split()


@pytest.mark.integration
def test_power_on_with_redis_down_is_503_and_saves_nothing_then_works(tmp_path, postgres):
    redis_port = free_tcp_port()  # closed until the broker comes back
    broker = f"redis://127.0.0.1:{redis_port}/0"
    extra = {"DATABASE_URL": postgres.url, "VAR_DIR": str(tmp_path / "var"),
             "CELERY_BROKER_URL": broker}
    key = prepare_database(extra)
    env = process_env(**extra)
    system_id = manage(env, "shell", "--no-imports", "-c", SETUP).strip().splitlines()[-1]
    before = state(env, system_id)
    log = tmp_path / "gunicorn.log"
    web, base = start_web(extra, log, key)
    server = None
    try:
        path = f"/api/v1/machines/{system_id}/power-on/"
        started = time.monotonic()
        status, headers, body = call(base, "POST", path, f"Bearer {key}")
        elapsed = time.monotonic() - started
        assert status == 503, f"{status} {body[:500]}\n{log.read_text()[-3000:]}"
        assert headers["Content-Type"] == "application/json"
        assert headers["Retry-After"].isdigit()
        assert "unavailable" in json.loads(body)["detail"]
        assert elapsed < 20, f"the 503 took {elapsed:.1f}s"
        # Nothing saved: no "power on requested" event, the machine as it was.
        assert state(env, system_id) == before

        server, url = start_redis(tmp_path, port=redis_port)
        assert url == broker
        status, _headers, body = call(base, "POST", path, f"Bearer {key}")
        assert status == 200, body
        after = state(env, system_id)
        assert int(after[0]) > int(before[0]), (before, after)
        assert redis.Redis.from_url(broker).llen("rack.r1") == 1  # the request, queued
    finally:
        stop(web)
        if server is not None:
            stop(server)
