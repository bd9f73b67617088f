"""The three failovers bench/ha_failover_bench.py measures, each one sample on fresh backends.

Every sample builds its stack from the tests/ha helpers and the integration tests' own setup
(their SETUP scripts, environments, load generators and checks), so the bench measures exactly
what the tests assert; it adds no assertion of its own and counts what was lost instead.
"""
import json
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from tests.faults.backends import PrivatePostgres, PrivateRedis
from tests.faults.racks import start_rack_worker, write_credentials
from tests.faults.region import manage, prepare_database, start_web
from tests.ha import test_postgres_failover as pg_test
from tests.ha import test_redis_failover as redis_test
from tests.ha import test_regions as regions_test
from tests.ha.load import Load
from tests.ha.patroni import Cluster
from tests.ha.regions import BEAT, HAProxy, start_region
from tests.ha.sentinel import SentinelGroup
from tests.processes import process_env, region_worker_args, start, stop, wait_until

REGION_BEFORE, REGION_AFTER = 4.0, 6.0  # seconds of load around a region's kill
PG_BEFORE, PG_AFTER, PG_RESUME = 5.0, 3.0, 60.0  # load before, after recovery; give up after


@dataclass
class Sample:
    """One failover: seconds until served again, writes acknowledged and lost, a note."""

    seconds: float | None
    acknowledged: int
    lost: list[str]
    note: str


def _backends(stack: ExitStack, folder: Path, redis_group: bool = False):
    """A private PostgreSQL (maas database) and Redis (or Sentinel group), torn down by stack."""
    postgres = PrivatePostgres()
    stack.callback(postgres.destroy)
    postgres.start()
    postgres.create_database()
    broker = SentinelGroup(folder) if redis_group else PrivateRedis(folder)
    stack.callback(broker.stop)
    broker.start()
    return postgres, broker


def _setup(env: dict, script: str) -> str:
    """Run a test's SETUP script in `manage.py shell`; its output."""
    return manage(process_env(**env), "shell", "--no-imports", "-c", script)


# (1) Region kill -9 ---------------------------------------------------------------------------
def region_sample() -> Sample:
    """Two regions behind HAProxy under load (allocate, power on); region a killed."""
    with tempfile.TemporaryDirectory(prefix="bench-ha-region-") as name, ExitStack() as stack:
        folder = Path(name)
        postgres, broker = _backends(stack, folder)
        env = regions_test.region_env(postgres, broker, folder)
        key = prepare_database(env)
        ids = json.loads(_setup(env, regions_test.SETUP.format(
            ready=regions_test.READY, expiring=0)).strip().splitlines()[-1])
        regions = [start_region(n, env, key, folder / f"region-{n}") for n in ("a", "b")]
        for region in regions:
            stack.callback(region.stop)
        proxy = HAProxy(folder, regions)
        stack.callback(proxy.stop)
        proxy.wait_all_up()
        wait_until(lambda: all(r.ready() for r in regions), 90, lambda: "regions not ready")
        return _region_kill(postgres, proxy, regions[0], key, ids["ready"])


def _region_kill(postgres, proxy: HAProxy, victim, key: str, ready: list[str]) -> Sample:
    """The load, region a's kill, then which answered allocation is not in the database."""
    load = Load(proxy.base, f"Bearer {key}")
    threads = load.start(clients=2)
    time.sleep(REGION_BEFORE)
    killed = time.monotonic()
    victim.kill()
    wait_until(lambda: proxy.states()["a"].startswith("DOWN"), 15, lambda: str(proxy.states()))
    marked_down = time.monotonic() - killed
    time.sleep(REGION_AFTER)
    load.stopping.set()
    for thread in threads:
        thread.join(timeout=60)
    rows = regions_test.machines(postgres, ready)
    # An allocation answered 200 is a write acknowledged: the machine must have its owner.
    lost = [sid for sid in load.allocated if rows.get(sid, (None,) * 3)[2] is None]
    note = (f"HAProxy marked it down after {marked_down:.1f} s; {len(load.failures)} failed "
            f"attempts (retried){'; errors: ' + '; '.join(load.errors) if load.errors else ''}")
    return Sample(load.recovery(killed), len(load.allocated), lost, note)


# (2) PostgreSQL primary kill -9 ---------------------------------------------------------------
def postgres_sample() -> Sample:
    """Patroni pair (synchronous), a region creating zones; the primary killed."""
    with tempfile.TemporaryDirectory(prefix="bench-ha-pg-") as name, ExitStack() as stack:
        folder = Path(name)
        broker = PrivateRedis(folder)  # not the machine's shared Redis
        stack.callback(broker.stop)
        broker.start()
        cluster = Cluster()
        stack.callback(cluster.stop)
        cluster.wait_synchronous()
        cluster.create_database("maas")
        url = f"postgres://postgres@{cluster.url_hosts}/maas?target_session_attrs=read-write"
        extra = {"DATABASE_URL": url, "CELERY_BROKER_URL": broker.url,
                 "VAR_DIR": str(folder / "var")}
        key = prepare_database(extra)
        web, base = start_web(extra, folder / "web.log", key, workers=2)
        stack.callback(stop, web)
        return _primary_kill(cluster, pg_test.Writes(base, f"Bearer {key}"))


def _primary_kill(cluster: Cluster, writes) -> Sample:
    """Writes, the primary's kill, then every zone answered 201 looked up on the new one."""
    threads = writes.start()
    time.sleep(PG_BEFORE)
    old = cluster.primary()
    old.kill()
    killed = time.monotonic()
    new = wait_until(lambda: next((n for n in cluster.nodes if n.is_primary()), None),
                     PG_RESUME, cluster.logs)
    promoted = time.monotonic() - killed
    deadline = time.monotonic() + PG_RESUME
    while writes.resumed(killed) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    resumed = writes.resumed(killed)
    time.sleep(PG_AFTER)
    writes.stopping.set()
    for thread in threads:
        thread.join(timeout=35)
    rows = dict(cluster.query(new, "SELECT name, id FROM zones_zone WHERE name LIKE 'ha-%'"))
    lost = sorted(name for name, id in writes.created.items() if rows.get(name) != id)
    kinds = sorted({failure.split()[0] for _, failure in writes.failures})
    note = (f"{new.name} promoted after {promoted:.1f} s; {len(writes.failures)} attempts "
            f"failed ({', '.join(kinds) or 'none'})")
    return Sample(resumed, len(writes.created), lost, note)


# (3) Redis master kill -9 ---------------------------------------------------------------------
def redis_sample() -> Sample:
    """Sentinel-managed Redis, region and rack powering machines on; the master killed."""
    with tempfile.TemporaryDirectory(prefix="bench-ha-redis-") as name, ExitStack() as stack:
        folder = Path(name)
        postgres, group = _backends(stack, folder, redis_group=True)
        env = redis_test.region_env(postgres, group, folder)
        key = prepare_database(env)
        power_key, *system_ids = _setup(env, redis_test.SETUP.format(
            count=redis_test.MACHINES, delay=redis_test.BMC_DELAY_MS)).split()
        web, base = start_web(env, folder / "web.log", key)
        processes = [web, start(region_worker_args("sentinel"), folder / "worker.log", **env),
                     start(BEAT, folder / "beat.log", **env),
                     start_rack_worker("r1", write_credentials(folder / "credentials-r1.json",
                                                               power_key), folder / "rack.log",
                                       concurrency=redis_test.RACK_CONCURRENCY, **env)]
        for process in processes:
            stack.callback(stop, process)
        for log in ("worker.log", "rack.log"):
            wait_until(lambda log=log: " ready." in (folder / log).read_text(errors="replace"),
                       90, lambda: redis_test.logs(folder))
        return _master_kill({"postgres": postgres, "group": group, "key": key, "base": base,
                             "system_ids": system_ids, "folder": folder})


def _master_kill(stack: dict) -> Sample:
    """Power-on actions, the master's kill, then every action answered 200 looked up."""
    load, killed_at, killed, promoted = redis_test.run_load_and_kill(stack)
    accepted = sorted(load.accepted)
    try:
        redis_test.wait_for_outcomes(stack, accepted, killed)
    except AssertionError:
        pass  # what never reached its outcome is counted below
    found, states = redis_test.events(stack["postgres"]), redis_test.power_states(
        stack["postgres"])
    lost = [sid for sid in accepted if states.get(sid) != "on"
            or "power_on" not in dict(found.get(sid, []))]
    kept = replace(load, accepted={sid: at for sid, at in load.accepted.items()
                                   if sid not in lost})
    took = redis_test.timings(kept, found, killed_at) if kept.accepted else {}
    note = (f"Sentinel promoted the replica after {promoted:.1f} s; API accepted actions "
            f"again after {took.get('api', float('nan')):.1f} s; {len(load.refused)} answered "
            f"503 (retried); {took.get('accepted_after', 0)} accepted after the kill")
    return Sample(took.get("first_new"), len(accepted), lost, note)


SCENARIOS = {"region": region_sample, "postgres": postgres_sample, "redis": redis_sample}
