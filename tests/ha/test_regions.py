"""Two regions behind HAProxy, one killed with kill -9 under load: the client barely notices.

Real processes on a PostgreSQL and a Redis of the test's own: two region hosts (gunicorn web,
region worker, beat; each its own var/, the same SECRET_KEY and POWER_SECRETS_KEY), HAProxy in
front (lab/ha/haproxy.cfg: /healthz checks every second), a rack worker with fake BMCs. Client
threads allocate machines and power them on through HAProxy; meanwhile every process group of
one region is killed. Then: few requests failed (each retried), every action answered 200
reached its outcome, no machine was allocated twice, and the beat sweeps kept running on the
surviving region: with two beats the deadline sweep still ran once per tick (the beats claim
each tick in the shared cache, maasproject/beat.py), and each machine past its deadline failed
and was powered off exactly once.
"""
import json
import re
import time
from datetime import datetime

import pytest
from cryptography.fernet import Fernet

from nodes.choices import NodeStatus
from tests.faults.backends import PrivatePostgres, PrivateRedis
from tests.faults.racks import start_rack_worker, write_credentials
from tests.faults.region import manage, prepare_database
from tests.ha.load import Load, await_outcomes
from tests.ha.regions import HAProxy, Region, start_region
from tests.processes import process_env, stop, wait_until

READY = 120  # more than the load allocates
EXPIRING = 12  # Commissioning machines whose deadlines pass one a second around the kill
BEFORE_KILL, AFTER_KILL = 8.0, 10.0  # seconds of load
MAX_FAILED = 5  # requests the client had to retry
# Seconds: the deadline sweep's interval. Not 1: the beats' tick claims are whole seconds
# (maasproject/beat.py), so a 1 s period would skip ticks with one beat.
TICK = 2
SETUP = """
import json
from django.utils import timezone
from datetime import timedelta
from nodes.choices import NodeStatus
from power.services.parameters import machine_set_power
from tests.factories import MachineFactory, RackControllerFactory
from zones.rackkeys import rack_power_key
rack = RackControllerFactory(name="r1", status="running", last_heartbeat=timezone.now())
ids = {{"ready": [], "expiring": []}}
for kind, status, count in (("ready", NodeStatus.READY, {ready}),
                            ("expiring", NodeStatus.COMMISSIONING, {expiring})):
    for n in range(count):
        machine = MachineFactory(hostname=f"{{kind}}-{{n:03d}}", status=status,
                                 status_expires=timezone.now() + timedelta(days=1))
        machine_set_power(machine, "fake", {{"fake_id": machine.system_id, "delay": 200}})
        machine.save()
        ids[kind].append(machine.system_id)
print(json.dumps({{"power_key": rack_power_key(rack.system_id, rack.token_hash), **ids}}))
"""


def region_env(postgres: PrivatePostgres, broker: PrivateRedis, folder) -> dict:
    """What every region host is given: the shared backends and keys, fast sweeps."""
    return {"DATABASE_URL": postgres.url, "CELERY_BROKER_URL": broker.url,
            "SECRET_KEY": "ha-test-" + Fernet.generate_key().decode(),
            "POWER_SECRETS_KEY": Fernet.generate_key().decode(),
            "VAR_DIR": str(folder / "var"), "FAKE_POWER_STATE_DIR": str(folder / "bmc"),
            "CELERY_VISIBILITY_TIMEOUT": "5", "POWER_RESULT_TIMEOUT": "15",
            "POWER_RESULT_CHECK_INTERVAL": "2", "DEADLINE_CHECK_INTERVAL": str(TICK),
            "RACK_STATUS_INTERVAL": "2", "RACK_DEAD_AFTER": "3600"}


def expire_one_a_second(postgres: PrivatePostgres, system_ids: list[str]) -> None:
    """Deadlines one second apart from 1 s on: about half pass while both beats run."""
    for n, system_id in enumerate(system_ids):
        postgres.query("UPDATE nodes_machine SET status_expires = now() + %s * interval '1 s' "
                       "WHERE system_id = %s RETURNING id", 1 + n, system_id)


def machines(postgres: PrivatePostgres, system_ids: list[str]) -> dict[str, tuple]:
    """system_id -> (status, power state, owner id, its event types in order)."""
    rows = postgres.query(
        "SELECT m.system_id, m.status, m.power_state, m.owner_id, "
        "coalesce(array_agg(e.type ORDER BY e.id) FILTER (WHERE e.id IS NOT NULL), '{}') "
        "FROM nodes_machine m LEFT JOIN nodes_event e ON e.machine_id = m.id "
        "WHERE m.system_id = ANY(%s) GROUP BY m.id", system_ids)
    return {sid: (status, power, owner, list(events))
            for sid, status, power, owner, events in rows}


def sweep_runs(regions: list[Region]) -> list[float]:
    """When the deadline sweep ran (epoch seconds), from both workers' logs."""
    pattern = re.compile(r"\[(\S+ \d+:\d+:\d+,\d+): INFO/\S+\] Task "
                         r"nodes\.tasks\.expire_status_deadlines\[\S+\] succeeded")
    return sorted(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                  for region in regions
                  for match in pattern.finditer((region.folder / "worker.log").read_text()))


def logs(folder) -> str:
    return "\n".join(f"--- {path.relative_to(folder)}\n{path.read_text()[-2500:]}"
                     for path in sorted(folder.rglob("*.log")))


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """PostgreSQL, Redis, regions a and b, HAProxy in front (both up), the rack r1."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # the tests' own; not this broker
    postgres, broker = PrivatePostgres(), PrivateRedis(tmp_path)
    running = []
    try:
        postgres.start()
        postgres.create_database()
        broker.start()
        env = region_env(postgres, broker, tmp_path)
        key = prepare_database(env)
        setup = SETUP.format(ready=READY, expiring=EXPIRING)
        ids = json.loads(manage(process_env(**env), "shell", "--no-imports", "-c", setup)
                         .strip().splitlines()[-1])
        regions = []
        for name in ("a", "b"):
            regions.append(start_region(name, env, key, tmp_path / f"region-{name}"))
            running.append(regions[-1])
        proxy = HAProxy(tmp_path, regions)
        running.append(proxy)
        credentials = write_credentials(tmp_path / "credentials-r1.json", ids["power_key"])
        running.append(start_rack_worker("r1", credentials, tmp_path / "rack.log",
                                         concurrency=4, **env))
        proxy.wait_all_up()
        # Both beats sending (a beat takes seconds to start): the load runs under two beats.
        wait_until(lambda: all(region.ready() for region in regions), 60, lambda: logs(tmp_path))
        yield {"postgres": postgres, "key": key, "ids": ids, "regions": regions,
               "proxy": proxy, "folder": tmp_path}
    finally:
        for part in reversed(running):
            part.stop() if hasattr(part, "stop") else stop(part)
        broker.stop()
        postgres.destroy()


def run_load_and_kill(stack) -> dict:
    """The load before and after region a's kill: the load, when it started and when region a
    was killed (wall clock, as the workers log), the kill's monotonic time, and seconds until
    HAProxy marked region a down."""
    proxy, victim = stack["proxy"], stack["regions"][0]
    load = Load(proxy.base, f"Bearer {stack['key']}")
    expire_one_a_second(stack["postgres"], stack["ids"]["expiring"])
    started_at = time.time()
    threads = load.start(clients=2)
    time.sleep(BEFORE_KILL)
    killed, killed_at = time.monotonic(), time.time()
    victim.kill()
    wait_until(lambda: proxy.states()["a"].startswith("DOWN"), 10, lambda: str(proxy.states()))
    marked_down = time.monotonic() - killed
    time.sleep(max(AFTER_KILL - marked_down, 0))
    load.stopping.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert proxy.states()["b"] == "UP"
    return {"load": load, "started_at": started_at, "killed_at": killed_at, "killed": killed,
            "marked_down": marked_down}


def wait_for_outcomes(stack, load: Load) -> None:
    """Until every power-on answered 200 is on, every expiring machine failed and off."""
    postgres, expiring = stack["postgres"], stack["ids"]["expiring"]

    def done() -> bool:
        rows = machines(postgres, load.powered + expiring)
        return (all(rows[sid][1] == "on" for sid in load.powered)
                and all(rows[sid][:2] == (NodeStatus.FAILED_COMMISSIONING, "off")
                        for sid in expiring))

    await_outcomes(done, 45, lambda: f"{machines(postgres, load.powered + expiring)}\n"
                                     + logs(stack["folder"]))


def assert_allocated_once(stack, load: Load) -> None:
    """No machine answered to two allocations; every allocated one allocated once."""
    assert len(load.allocated) >= 20 and len(set(load.allocated)) == len(load.allocated)
    ready = machines(stack["postgres"], stack["ids"]["ready"])
    owned = [sid for sid, row in ready.items() if row[2] is not None]
    assert set(load.allocated) <= set(owned)
    for sid in owned:  # allocated once, whether or not the client saw the answer
        assert (ready[sid][0], ready[sid][3].count("allocate")) == (NodeStatus.ALLOCATED, 1)


def sweep_rates(stack, run: dict) -> tuple[float, float]:
    """Deadline sweep runs per tick under two beats (before the kill) and one (after)."""
    runs, ended = sweep_runs(stack["regions"]), time.time()
    both = [at for at in runs if run["started_at"] <= at < run["killed_at"]]
    one = [at for at in runs if at >= run["killed_at"] + 1]  # a tick after the kill
    return (len(both) * TICK / (run["killed_at"] - run["started_at"]),
            len(one) * TICK / (ended - run["killed_at"] - 1))


@pytest.mark.integration
def test_kill_9_of_a_region_behind_haproxy_loses_no_action_and_sweeps_once(stack):
    run = run_load_and_kill(stack)
    load = run["load"]
    wait_for_outcomes(stack, load)
    recovery = load.recovery(run["killed"])
    two_beats, one_beat = sweep_rates(stack, run)
    print(f"{len(load.allocated)} allocated, {len(load.powered)} powered on through HAProxy; "
          f"{len(load.failures)} failed attempts (retried): {load.failures}; HAProxy marked the "
          f"killed region down {run['marked_down']:.1f}s after the kill; requests succeed "
          f"again {recovery:.2f}s after it; deadline sweep runs per tick: {two_beats:.1f} with "
          f"two beats, {one_beat:.1f} with one")
    assert not load.errors, load.errors
    assert len(load.failures) <= MAX_FAILED, load.failures
    assert_allocated_once(stack, load)
    assert 0.5 <= two_beats <= 1.25, two_beats  # once per tick, not once per beat
    # Every machine past its deadline, with two beats or one: failed once, powered off once.
    expiring = machines(stack["postgres"], stack["ids"]["expiring"])
    for sid, (_status, _power, _owner, events) in expiring.items():
        assert (events.count("status_expired"), events.count("power_off")) == (1, 1), (sid,
                                                                                      events)
    assert one_beat >= 0.5  # the surviving beat kept the sweep going
