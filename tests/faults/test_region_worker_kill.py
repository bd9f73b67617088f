"""kill -9 of the region worker in the middle of 200 power results: a second worker records
every one of them, each exactly once.

The results are sent as racks send them (send_task to `region`) to a redis-server of the test's
own. The region queue acknowledges late with prefetch 1, so the message the killed worker held
stays unacknowledged and Redis gives it to the next worker after the visibility timeout (5 s
here); the request id makes a result recorded before the kill but not acknowledged a no-op.

A kill -9 can also land between kombu's BRPOP and its bookkeeping (celery/kombu#305): that one
message is gone from Redis (seen once in about twenty runs; the test takes one message off the
queue as that pop does, so the recovery is exercised every run). The region still knows it
sent the request (PendingPowerRequest): its resend sweep, run here by the test every 2 s, sends
it again to the rack after POWER_RESULT_TIMEOUT (20 s here), and the rack's new result is
recorded.
"""
import os
import signal
import time

import pytest
import redis
from django.utils import timezone

from nodes.models import Event, Machine, PendingPowerRequest, PowerResultReceipt
from power.services.parameters import machine_set_power
from tests.factories import MachineFactory
from tests.faults.broker import rack_app, send_power_result
from tests.faults.racks import register_rack, start_rack_worker
from tests.processes import region_worker_args, start, start_redis, stop, wait_until

RESULTS = 200
MACHINES = 20
KILL_AFTER = 50  # results recorded when the worker is killed


def fake_machines(count: int) -> list[Machine]:
    """Machines with fake BMCs, as a rack worker of the test can drive them."""
    machines = [MachineFactory(power_type="fake") for _ in range(count)]
    for machine in machines:
        machine_set_power(machine, "fake", {"fake_id": machine.system_id})
        machine.save()
    return machines


def sent_as_the_region_does(request_id: str, system_id: str, rack: str) -> None:
    """The row dispatch_power leaves for a request whose outcome has not come back."""
    PendingPowerRequest.objects.create(request_id=request_id, system_id=system_id,
                                       action="on", purpose="user", rack=f"rack.{rack}",
                                       sent=timezone.now())


def missing(broker: str, logs) -> str:
    """Which results are not recorded, and what Redis still holds."""
    done = set(PowerResultReceipt.objects.values_list("request_id", flat=True))
    lost = sorted({f"burst{n:04d}" for n in range(RESULTS)} - done)
    client = redis.Redis.from_url(broker)
    return (f"{RESULTS - len(lost)} of {RESULTS} recorded; missing {lost}; queue region: "
            f"{client.llen('region')}, unacknowledged: {client.hlen('unacked')}\n" +
            "\n".join(line for log in logs for line in log.read_text().splitlines()
                      if any(request_id in line for request_id in lost)))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_kill_9_of_the_region_worker_loses_and_duplicates_nothing(tmp_path, monkeypatch):
    # Celery prefers $CELERY_BROKER_URL (set under CI) to the broker an app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    server, broker = start_redis(tmp_path)
    env = {"CELERY_BROKER_URL": broker, "CELERY_VISIBILITY_TIMEOUT": "5",
           "POWER_RESULT_TIMEOUT": "20", "FAKE_POWER_STATE_DIR": str(tmp_path / "bmc")}
    machines = fake_machines(MACHINES)
    rack = f"killrack{os.getpid()}"
    credentials = register_rack(rack, tmp_path)
    app = rack_app(broker)
    for n in range(RESULTS):
        system_id = machines[n % MACHINES].system_id
        sent_as_the_region_does(f"burst{n:04d}", system_id, rack)
        send_power_result(app, f"burst{n:04d}", system_id, "on")
    # The message a kill -9 inside kombu's BRPOP-then-HSET window loses: popped, never run.
    assert redis.Redis.from_url(broker).rpop("region")
    recorded = Event.objects.filter(type="power_on").count
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log", tmp_path / "rack.log"]
    first = start(region_worker_args("kill-1"), logs[0], **env)
    second = racks = None
    try:
        wait_until(lambda: recorded() >= KILL_AFTER, 60, logs[0].read_text)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = recorded()
        in_flight = redis.Redis.from_url(broker).hlen("unacked")
        started = time.monotonic()
        second = start(region_worker_args("kill-2"), logs[1], **env)
        racks = start_rack_worker(rack, credentials, logs[2], **env)

        def all_recorded() -> bool:
            app.send_task("nodes.tasks.resend_power_requests", queue="region")  # as beat
            time.sleep(2)
            return recorded() >= RESULTS

        wait_until(all_recorded, 90, lambda: missing(broker, logs))
        recovered = time.monotonic() - started
        time.sleep(2)  # a duplicate, or a last result in flight, would land now
        resent = Event.objects.filter(type="power_retry").count()
        print(f"killed at {at_kill} recorded, {in_flight} unacknowledged; "
              f"{recorded()} of {RESULTS} recorded {recovered:.1f}s after the second worker "
              f"started; {resent} sent again")
        # Exactly once: never a result recorded twice.
        assert recorded() == RESULTS, missing(broker, logs)
        assert PowerResultReceipt.objects.count() == RESULTS
        assert not PendingPowerRequest.objects.exists()
        assert resent >= 1  # the popped one, at least
        for machine in machines:
            assert machine.events.filter(type="power_on").count() == RESULTS // MACHINES
    finally:
        for process in (first, second, racks):
            if process is not None:
                stop(process)
        stop(server)
