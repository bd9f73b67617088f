"""A rack worker killed in the middle of a power job: the job runs again, never a silent loss.

Real processes on a Redis of the test's own: region web (gunicorn) sends the power-on, a region
worker records results, a rack worker runs the job against a fake BMC that takes DELAY_MS to
answer. Rack jobs are acknowledged late and rejected back to the queue when their pool process
dies (rack_worker/celery_app.py): a whole worker killed leaves the job unacknowledged in Redis,
which gives it to the restarted worker after the visibility timeout (5 s here, 300 s by
default); a pool process killed alone sends it back to the queue at once.
"""
import os
import signal
import time

import pytest
import redis

from nodes.choices import PowerState
from nodes.models import Event, Machine
from power.services.parameters import machine_set_power
from tests.factories import AdminFactory, MachineFactory, make_api_key
from tests.faults.broker import rack_app
from tests.faults.racks import register_rack, start_rack_worker
from tests.faults.region import call, start_web
from tests.processes import (
    alive,
    child_pids,
    region_worker_args,
    start,
    start_redis,
    stop,
    wait_until,
)

DELAY_MS = 6000  # the fake BMC's answer time: the kill lands inside it
TIMEOUT = 75


def power_state(system_id: str) -> str:
    return Machine.objects.get(system_id=system_id).power_state


def describe(system_id: str, client: redis.Redis, logs: dict) -> str:
    events = list(Event.objects.filter(machine__system_id=system_id)
                  .values_list("type", "description"))
    return (f"power state {power_state(system_id)}, events {events}, queue "
            f"{client.llen('rack.' + logs['name'])}, unacknowledged {client.hlen('unacked')}\n"
            + "\n".join(f"--- {name}\n{path.read_text()[-3000:]}"
                        for name, path in logs.items() if name != "name"))


@pytest.fixture
def power_stack(request, tmp_path, monkeypatch):
    """Redis, region web and worker, a registered rack and a fake machine powered off.

    Parametrized indirectly, the parameter is more environment for the region (web and worker).
    """
    # Celery prefers $CELERY_BROKER_URL (set under CI) to the broker an app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    server, broker = start_redis(tmp_path)
    name = f"faultrack{os.getpid()}"
    env = {"CELERY_BROKER_URL": broker, "CELERY_VISIBILITY_TIMEOUT": "5",
           "FAKE_POWER_STATE_DIR": str(tmp_path / "fake-power")}
    region_env = {**env, **getattr(request, "param", {})}
    logs = {"name": name, **{part: tmp_path / f"{part}.log"
                             for part in ("web", "region", "rack-1", "rack-2")}}
    key = make_api_key(AdminFactory())
    machine = MachineFactory(power_type="fake", power_state=PowerState.OFF)
    machine_set_power(machine, "fake", {"fake_id": machine.system_id, "delay": DELAY_MS})
    machine.save()
    credentials = register_rack(name, tmp_path)
    processes = []
    try:
        web, base = start_web(region_env, logs["web"], key)
        processes.append(web)
        processes.append(start(region_worker_args("rackkill-region"), logs["region"],
                               **region_env))

        def rack(number: int):
            process = start_rack_worker(name, credentials, logs[f"rack-{number}"], **env)
            processes.append(process)
            return process

        yield {"base": base, "key": key, "system_id": machine.system_id, "rack": rack,
               "app": rack_app(broker),
               "redis": redis.Redis.from_url(broker), "logs": logs,
               "fake_state": tmp_path / "fake-power" / f"{machine.system_id}.json"}
    finally:
        for process in processes:
            stop(process)
        stop(server)


def power_on_until_running(stack, worker) -> None:
    """Ask for power on; return once the rack worker is inside the job (slow fake BMC)."""
    system_id, logs = stack["system_id"], stack["logs"]
    wait_until(lambda: " ready." in logs["rack-1"].read_text(), TIMEOUT,
               lambda: describe(system_id, stack["redis"], logs))
    status, _headers, body = call(stack["base"], "POST",
                                  f"/api/v1/machines/{system_id}/power-on/",
                                  f"Bearer {stack['key']}")
    assert status == 200, body
    wait_until(lambda: "rack_worker.tasks.power" in logs["rack-1"].read_text()
               and "received" in logs["rack-1"].read_text(), TIMEOUT,
               lambda: describe(system_id, stack["redis"], logs))
    time.sleep(1)  # inside the fake BMC's delay
    assert worker.poll() is None
    assert power_state(system_id) == PowerState.OFF  # not done yet


def assert_done_once(stack, started: float) -> float:
    """The machine is recorded on, by one power_on event; seconds it took from `started`."""
    system_id = stack["system_id"]
    wait_until(lambda: power_state(system_id) == PowerState.ON, TIMEOUT,
               lambda: describe(system_id, stack["redis"], stack["logs"]))
    took = time.monotonic() - started
    time.sleep(2)  # a duplicate outcome would land now
    events = Event.objects.filter(machine__system_id=system_id)
    assert events.filter(type="power_on").count() == 1
    assert not events.filter(type="power_error").exists()
    assert power_state(system_id) == PowerState.ON
    return took


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_rack_worker_killed_mid_job_runs_the_job_again_when_restarted(power_stack):
    first = power_stack["rack"](1)
    power_on_until_running(power_stack, first)
    assert power_stack["redis"].hlen("unacked") == 1  # the job, held by the worker
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    started = time.monotonic()
    power_stack["rack"](2)
    took = assert_done_once(power_stack, started)
    assert "rack_worker.tasks.power" in power_stack["logs"]["rack-2"].read_text()
    print(f"job run again and recorded {took:.1f}s after the restart")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_pool_process_killed_mid_job_goes_back_to_the_queue_at_once(power_stack):
    worker = power_stack["rack"](1)
    wait_until(lambda: child_pids(worker.pid), TIMEOUT, lambda: "no pool process")
    power_on_until_running(power_stack, worker)
    [child] = child_pids(worker.pid)
    started = time.monotonic()
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: not alive(child) or worker.poll() is not None, 10, lambda: "alive")
    took = assert_done_once(power_stack, started)
    assert worker.poll() is None  # the same worker, with a new pool process, ran it again
    assert "WorkerLostError" in power_stack["logs"]["rack-1"].read_text()
    print(f"job run again by a new pool process, recorded {took:.1f}s after the kill")


EXPIRES = 8  # seconds: POWER_REQUEST_EXPIRES of the region in the next test


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("power_stack", [{"POWER_REQUEST_EXPIRES": str(EXPIRES)}],
                         indirect=True)
def test_a_job_back_after_it_expired_is_reported_failed_not_run(power_stack):
    """A rack worker down longer than a request may wait: a clear failure, no late power on."""
    system_id = power_stack["system_id"]
    first = power_stack["rack"](1)
    sent = time.monotonic()
    power_on_until_running(power_stack, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(max(0.0, sent + EXPIRES + 1 - time.monotonic()))
    started = time.monotonic()
    power_stack["rack"](2)
    wait_until(lambda: power_state(system_id) == PowerState.ERROR, TIMEOUT,
               lambda: describe(system_id, power_stack["redis"], power_stack["logs"]))
    took = time.monotonic() - started
    time.sleep(2)  # a late run of the job would land now
    events = Event.objects.filter(machine__system_id=system_id)
    [failure] = events.filter(type="power_error")
    assert "PowerRequestExpired" in failure.description, failure.description
    assert "Not carried out" in failure.description
    assert not events.filter(type="power_on").exists()
    fake = power_stack["fake_state"]
    assert not fake.exists() or "power_on" not in fake.read_text()  # the BMC was never told
    assert power_state(system_id) == PowerState.ERROR
    print(f"expired job reported failed {took:.1f}s after the restart: {failure.description}")


RESULT_TIMEOUT = 4  # seconds: POWER_RESULT_TIMEOUT of the region in the next test


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("power_stack", [{"POWER_RESULT_TIMEOUT": str(RESULT_TIMEOUT),
                                          "POWER_RESULT_ATTEMPTS": "2"}], indirect=True)
def test_a_rack_that_never_comes_back_fails_the_request_with_an_event(power_stack):
    """The region sends the request again, then fails it: no silent unknown, no deadline."""
    system_id = power_stack["system_id"]
    first = power_stack["rack"](1)
    power_on_until_running(power_stack, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    started = time.monotonic()

    def failed() -> bool:
        # The test is the beat here: it runs the region's resend sweep every second.
        power_stack["app"].send_task("nodes.tasks.resend_power_requests", queue="region")
        time.sleep(1)
        return power_state(system_id) == PowerState.ERROR

    wait_until(failed, TIMEOUT, lambda: describe(system_id, power_stack["redis"],
                                                 power_stack["logs"]))
    took = time.monotonic() - started
    events = Event.objects.filter(machine__system_id=system_id)
    [retry] = events.filter(type="power_retry")
    assert f"no outcome from rack.{power_stack['logs']['name']}" in retry.description
    [failure] = events.filter(type="power_error")
    assert "(NoPowerResult)" in failure.description and "2 attempt(s)" in failure.description
    assert not events.filter(type="power_on").exists()
    print(f"request failed {took:.1f}s after the rack died: {failure.description}")
