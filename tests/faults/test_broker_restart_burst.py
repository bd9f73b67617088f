"""Redis restarted in the middle of a burst of power-on actions: no action lost or duplicated.

A client powers machines on through the REST API, one action per machine, while the broker
Redis is stopped for a few seconds and started again on its port. Every action answered 503
saved nothing and reached no BMC (but the one whose message Redis may have taken as it stopped,
before replying); every action answered 200 has one request, reached its
fake BMC exactly once and its result is recorded once; nothing is left in Redis to deliver
again later. Real processes on backends of the test's own: gunicorn, a region worker, a rack
worker with fake BMCs, a private PostgreSQL and Redis.
"""
import threading
import time

import pytest
import redis

from tests.faults.backends import PrivateRedis
from tests.faults.broker import drained, worker_ready
from tests.faults.racks import bmc_states, start_rack_worker, write_credentials
from tests.faults.region import call, manage, prepare_database, start_web
from tests.processes import process_env, region_worker_args, start, stop, wait_until

MACHINES = 120  # more than the burst needs: it ends AFTER_RESTART actions after Redis returns
RESTART_AT = 15  # actions answered when Redis stops
DOWNTIME = 3.0  # seconds
AFTER_RESTART = 20
BMC_DELAY_MS = 1000  # each fake BMC operation: power requests queue up in Redis meanwhile
SETUP = """
from django.contrib.auth import get_user_model
from nodes.choices import NodeStatus
from power.services.parameters import machine_set_power
from tests.factories import MachineFactory, RackControllerFactory
from zones.rackkeys import rack_power_key
rack = RackControllerFactory(name="r1", status="running")
print(rack_power_key(rack.system_id, rack.token_hash))
owner = get_user_model().objects.get(username="ops")
for n in range({count}):
    machine = MachineFactory(hostname=f"act-{{n:03d}}", status=NodeStatus.DEPLOYED, owner=owner)
    machine_set_power(machine, "fake", {{"fake_id": machine.system_id, "delay": {delay}}})
    machine.save()
    print(machine.system_id)
"""


def burst(base: str, key: str, system_ids: list[str], broker: PrivateRedis,
          held: dict[str, int]) -> dict[str, int]:
    """Power machines on one after the other, restarting Redis meanwhile; sid -> HTTP status.

    `held` gets what Redis held when it stopped: requests queued, messages taken but not
    acknowledged (by the rack, the region worker).
    """
    statuses: dict[str, int] = {}
    restarted = threading.Event()

    def restart() -> None:
        client = redis.Redis.from_url(broker.url)
        held.update(queued=client.llen("rack.r1"), unacked=client.hlen("unacked"))
        broker.stop()
        time.sleep(DOWNTIME)
        broker.start()
        restarted.set()

    restarter = threading.Thread(target=restart)
    after = 0
    for sid in system_ids:
        if len(statuses) == RESTART_AT:
            restarter.start()
        status, _headers, body = call(base, "POST", f"/api/v1/machines/{sid}/power-on/",
                                      f"Bearer {key}")
        assert status in (200, 503), f"{sid}: {status} {body[:500]}"
        statuses[sid] = status
        after += restarted.is_set()
        if after >= AFTER_RESTART:
            break
    restarter.join()
    return statuses


def machine_rows(postgres) -> dict[str, tuple[str, list[str]]]:
    """system_id -> (power state, its event types in order)."""
    rows = postgres.query(
        "SELECT m.system_id, m.power_state, "
        "coalesce(array_agg(e.type ORDER BY e.id) FILTER (WHERE e.id IS NOT NULL), '{}') "
        "FROM nodes_machine m LEFT JOIN nodes_event e ON e.machine_id = m.id "
        "GROUP BY m.system_id, m.power_state")
    return {sid: (state, list(events)) for sid, state, events in rows}


def logs(folder) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}"
                     for path in sorted(folder.glob("*.log")))


@pytest.mark.integration
def test_redis_restart_mid_burst_loses_and_duplicates_no_action(tmp_path, postgres, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # the tests' own; not this broker
    broker = PrivateRedis(tmp_path, appendonly=True)
    broker.start()
    extra = {"DATABASE_URL": postgres.url, "VAR_DIR": str(tmp_path / "var"),
             "CELERY_BROKER_URL": broker.url}
    key = prepare_database(extra)
    setup = SETUP.format(count=MACHINES, delay=BMC_DELAY_MS)
    power_key, *system_ids = manage(process_env(**extra), "shell", "--no-imports", "-c",
                                    setup).split()
    web, base = start_web(extra, tmp_path / "gunicorn.log", key)
    processes = [web, start(region_worker_args("redis-restart"), tmp_path / "region.log", **extra),
                 start_rack_worker("r1", write_credentials(tmp_path / "credentials-r1.json",
                                                           power_key),
                                   tmp_path / "rack-r1.log", concurrency=4,
                                   FAKE_POWER_STATE_DIR=str(tmp_path / "bmc"), **extra)]
    try:
        for log in (tmp_path / "region.log", tmp_path / "rack-r1.log"):
            wait_until(lambda log=log: worker_ready(log), 60, lambda: logs(tmp_path))
        started, held = time.monotonic(), {}
        statuses = burst(base, key, system_ids, broker, held)
        fired = time.monotonic() - started
        accepted = sorted(sid for sid, status in statuses.items() if status == 200)
        refused = sorted(sid for sid, status in statuses.items() if status == 503)

        def powered_on() -> int:
            return sum(machine_rows(postgres)[sid][0] == "on" for sid in accepted)

        wait_until(lambda: powered_on() == len(accepted) and drained(
            redis.Redis.from_url(broker.url), "rack.r1"), 60,
            lambda: f"{powered_on()} of {len(accepted)} accepted actions done\n" + logs(tmp_path))
        time.sleep(3)  # a duplicate would land now
        print(f"{len(statuses)} actions in {fired:.1f}s: {len(accepted)} answered 200, "
              f"{len(refused)} answered 503; all done {time.monotonic() - started:.1f}s in; "
              f"Redis held {held} when it stopped")

        # The restart met requests queued and requests the rack had taken, and actions.
        assert held["queued"] and held["unacked"], held
        assert refused, "no action met the outage"
        assert len(accepted) > RESTART_AT + AFTER_RESTART // 2
        rows, bmcs = machine_rows(postgres), bmc_states(tmp_path)
        # 200: one action event, one request sent, its result recorded once (with the fake
        # driver's warning that no simulator boots this machine); the BMC on, asked once.
        recorded = ["power-on", "power_request", "power_on", "power_warning"]
        for sid in accepted:
            assert rows[sid] == ("on", recorded), sid
            assert (bmcs[sid]["power_state"], bmcs[sid]["calls"]) == ("on", ["power_on"]), sid
        # 503: nothing saved, nothing sent. Except, at most, the action in flight when Redis
        # stopped (the first 503): Redis may have taken its message and stopped before
        # replying, and no sender can tell a lost reply from a lost message. Its transaction
        # rolled back (no action event), and the rack carried it out once and its result was
        # recorded, as any power result is: power on is idempotent and the state is the truth
        # (nodes.services.power.dispatch_power says why this beats sending after commit).
        first_refused = next(sid for sid, status in statuses.items() if status == 503)
        lost_reply = [sid for sid in refused if sid in bmcs]
        assert lost_reply in ([], [first_refused]), (lost_reply, first_refused)
        for sid in lost_reply:
            assert bmcs[sid]["calls"] == ["power_on"] and rows[sid][0] == "on", sid
            assert "power-on" not in rows[sid][1], rows[sid]
        for sid in set(refused) - set(lost_reply):
            assert rows[sid] == ("unknown", []), sid
        # Nothing left that Redis would deliver again after a visibility timeout.
        client = redis.Redis.from_url(broker.url)
        assert drained(client, "region") and drained(client, "rack.r1")
    finally:
        for process in processes:
            stop(process)
        broker.stop()
