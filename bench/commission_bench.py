"""Benchmark: commission N simulated machines at once through the real region, worker and rack.

Real processes: gunicorn (the region web, sync workers), the rack listener (a second gunicorn
serving only the rack API, REGION_LISTENER=rack, as `make run` starts it; --no-rack-listener to
compare without it), a Celery region worker, and a rack
(`python -m rack_worker.rackd --no-with-bootsvc`: it registers with the shared secret,
heartbeats and runs the rack worker `python -m rack_worker --name bench-rack`) whose region URL
is the rack listener's. The machines
have the `fake` power driver; their BMC state lives in files (FAKE_POWER_STATE_DIR) that the
rack worker writes and bench/fake_runner.py watches: a machine "boots" when the rack powers it
on, asks the rack API for its boot decision with the rack's credentials (as bootsvc would),
plays the job runner over the metadata API (every built-in script, with realistic outputs
that the inventory parses), and is off again when the region powers it off through the rack.

One POST per machine to /api/v1/machines/<id>/commission/ with an API key starts it all, every
request sent at once (--request-concurrency to limit). Measured: wall time from the first
commission request until every machine is Ready (and until every BMC is off again); per
machine, from its request to its Ready Event, with the phases in between; CPU seconds of the
region (gunicorn and region worker process groups, from /proc/<pid>/stat), of the other parts,
of this database's PostgreSQL backends and of the whole host (other people's work shows);
errors: failed commission requests, every HTTP error the runner met (retried or not), failed
boots, machines not Ready, ERROR lines in the logs, power errors. Rack heartbeat latency: a
heartbeat every 0.5 s through the rack's URL with its credentials (bench/heartbeat_probe.py)
from just before the first commission request until every machine is done.

Usage: .venv/bin/python bench/commission_bench.py [--machines 500] [--web-workers 4]
           [--backlog 4096] [--region-concurrency 2] [--rack-concurrency 8] [--timeout 900]
           [--no-rack-listener] [--rack-web-workers 1] [--rack-web-threads 8] [--regions 1]
With --regions N (N > 1), N region hosts run here behind HAProxy (bench/commission_stack.py).
Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/maas_bench_commission,
dropped and created); broker: BENCH_BROKER_URL (default redis://127.0.0.1:6379/9, flushed);
port BENCH_PORT (default 5296), the rack listener's BENCH_RACK_PORT (default 5297). Logs stay
in a temporary directory (printed).
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.commission_stack import start_stack  # noqa: E402  (after the project is on sys.path)
from bench.cpu_meter import CpuMeter, listen_overflows  # noqa: E402
from bench.heartbeat_probe import HeartbeatProbe  # noqa: E402
from bench.host import cpu_model, loadavg  # noqa: E402
from lab.region import stop_group  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL",
                        "postgres://postgres@127.0.0.1:5432/maas_bench_commission")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
PORT = int(os.environ.get("BENCH_PORT", "5296"))
RACK_PORT = int(os.environ.get("BENCH_RACK_PORT", "5297"))
RACK = "bench-rack"
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")


@dataclass
class Options:
    machines: int = 500
    web_workers: int = 4
    # Listen queue: up to 6 connections per booting machine (its parallel scripts) wait in it;
    # gunicorn's default (2048) overflows with 500 machines at once (connection resets).
    backlog: int = 4096
    region_concurrency: int = 2
    beat: bool = True  # the region's periodic tasks: rack status sweep, deadlines, power polls
    rack_concurrency: int = 8
    request_concurrency: int = 0  # commission requests in flight; 0: all at once
    script_seconds: float = 0.0
    timeout: float = 900.0
    port: int = PORT
    rack: str = RACK
    # The rack API on a listener of its own (gthread workers); False: the rack uses `port`.
    rack_listener: bool = True
    rack_port: int = 0  # 0: a spare one
    rack_web_workers: int = 1
    rack_web_threads: int = 8
    # Region hosts (processes here): several run behind HAProxy (bench/commission_stack.py).
    regions: int = 1


@dataclass
class Run:
    """What a run measured (times are epoch seconds, CPU in seconds)."""

    options: Options
    t_first_request: float = 0.0
    t_all_ready: float = 0.0
    t_all_off: float = 0.0
    t_done: float = 0.0
    statuses: dict = field(default_factory=dict)
    per_machine: list[float] = field(default_factory=list)
    per_machine_region: list[float] = field(default_factory=list)
    commission_latency: list[float] = field(default_factory=list)
    t_last_answer: float = 0.0
    listen_overflows: int = 0
    settled: bool = False
    phases: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    requests: int = 0
    heartbeats: str = ""
    heartbeat_latencies: list[float] = field(default_factory=list)
    load: tuple[str, str] = ("", "")
    logs: str = ""

    @property
    def ready(self) -> int:
        return self.statuses.get("Ready", 0)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


# Setup --------------------------------------------------------------------------------------
def seed(count: int) -> tuple[str, dict[str, str]]:
    """An admin with an API key and `count` New machines (fake power, one NIC each).

    Returns the key and {fake_id: MAC}; the fake id is the hostname.
    """
    from nodes.services import accounts
    from nodes.services.machines import machine_create

    admin = accounts.user_create(None, username="bench", password=accounts.generate_password(),
                                 is_superuser=True)
    _, key = accounts.apikey_create(admin, "commission bench")
    bmcs = {}
    for index in range(count):
        hostname = f"cm-{index:04d}"
        mac = f"52:54:00:c0:{index >> 8 & 255:02x}:{index & 255:02x}"
        machine_create(admin, hostname=hostname, architecture="amd64/generic",
                       mac_addresses=[mac], power_type="fake",
                       power_parameters={"fake_id": hostname})
        bmcs[hostname] = mac
    return key, bmcs


# The run ------------------------------------------------------------------------------------
def commission_all(url: str, key: str, system_ids: list[str], concurrency: int) -> list:
    """POST commission for every machine: (system_id, HTTP status or error, sent, answered)."""
    def one(system_id: str):
        request = urllib.request.Request(
            f"{url}api/v1/machines/{system_id}/commission/", data=b"{}", method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        sent = time.time()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except OSError as exc:
            code = f"{type(exc).__name__}: {exc}"
        return system_id, code, sent, time.time()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, system_ids))


def settled(count: int) -> bool:
    """Every machine finished its job (no longer New or in progress) and is powered off."""
    from nodes.choices import NodeStatus
    from nodes.models import Machine

    busy = (NodeStatus.NEW, NodeStatus.COMMISSIONING, NodeStatus.TESTING)
    return not Machine.objects.filter(status__in=busy).exists() and \
        Machine.objects.filter(power_state="off").count() == count


def event_times(event_type: str) -> dict[str, float]:
    """Each machine's latest Event of a type, as epoch seconds, by system id."""
    from nodes.models import Event

    times = {}
    for system_id, created in Event.objects.filter(type=event_type).order_by(
            "created").values_list("machine__system_id", "created"):
        times[system_id] = created.timestamp()
    return times


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f} / {max(values):.1f}"


def run_benchmark(options: Options, env: dict, var: Path) -> Run:
    """Seed, start everything, commission all machines at once, wait, measure, stop."""
    from nodes.models import Machine

    run = Run(options, logs=str(var), load=(loadavg(), ""))
    key, bmcs = seed(options.machines)
    system_ids = list(Machine.objects.order_by("hostname").values_list("system_id", flat=True))
    procs: dict[str, subprocess.Popen] = {}
    probe = None
    try:
        url, rack_url, records_path = start_stack(options, env, var, bmcs, procs)
        meter = CpuMeter(dict(procs))
        meter.start()
        overflows = listen_overflows()
        probe = start_probe(options, rack_url, var)
        run.t_first_request = time.time()
        answers = commission_all(url, key, system_ids,
                                 options.request_concurrency or options.machines)
        run.settled = wait_until_settled(options, procs)
        run.t_done = time.time()
        probe.stop()
        run.cpu, run.host = meter.finish()
        run.listen_overflows = listen_overflows() - overflows
        run.load = (run.load[0], loadavg())
        try:  # the runner ends after the last boot: it has seen every BMC go off
            procs["fake runner"].wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    finally:
        if probe is not None:
            probe.stop()
        for proc in procs.values():
            stop_group(proc)
    outcome(run, read_records(records_path), answers, probe)
    return run


def start_probe(options: Options, rack_url: str, var: Path) -> HeartbeatProbe:
    """Heartbeats through the rack's URL, with what the rack itself last reported."""
    from zones.models import RackController

    credentials = json.loads((var / "rack" / "rack" / "credentials.json").read_text())
    rack = RackController.objects.get(name=options.rack)
    body = {"interfaces": rack.interfaces, "services": rack.services,
            "reasons": rack.service_reasons}
    return HeartbeatProbe(rack_url, credentials, body).start()


def outcome(run: Run, records: list[dict], answers: list[tuple],
            probe: HeartbeatProbe) -> None:
    """Statuses, per machine times and every kind of error, from the database and records."""
    from django.db.models import Count

    from nodes.choices import NodeStatus
    from nodes.models import Event, Machine

    run.statuses = {NodeStatus(status).label: n for status, n in Machine.objects.values_list(
        "status").annotate(n=Count("id"))}
    measure(run, records, answers)
    run.errors["power errors"] = Event.objects.filter(type="power_error").count()
    run.errors["power state not recorded off"] = Machine.objects.exclude(
        power_state="off").count()
    run.errors["not settled within the timeout"] = int(not run.settled)
    run.heartbeats = probe.summary(percentile)
    run.heartbeat_latencies = list(probe.latencies)
    run.errors["heartbeats failed"] = len(probe.failures)
    run.error_samples += probe.failures[:5]


def wait_until_settled(options: Options, procs: dict[str, subprocess.Popen]) -> bool:
    """Wait until every machine is done and recorded off; False at the timeout."""
    deadline = time.monotonic() + options.timeout
    while time.monotonic() < deadline:
        if settled(options.machines):
            return True
        for name, proc in procs.items():
            if name != "fake runner" and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
        time.sleep(0.5)
    return False


def measure(run: Run, records: list[dict], answers: list[tuple]) -> None:
    """Per machine times from the request, the Events and the boot records; errors."""
    bad_requests = [f"commission {sid}: {code}" for sid, code, _, _ in answers if code != 200]
    requested = {sid: sent for sid, _, sent, _ in answers}
    run.commission_latency = [answered - sent for _, _, sent, answered in answers]
    run.t_last_answer = max((answered for *_, answered in answers), default=0.0)
    commissioned = event_times("commission")
    ready = event_times("status_succeeded")
    powered_off = event_times("power_off")
    run.t_all_ready = max(ready.values(), default=0.0)
    run.t_all_off = max(powered_off.values(), default=0.0)
    run.per_machine = [ready[sid] - requested[sid] for sid in ready if sid in requested]
    run.per_machine_region = [ready[sid] - commissioned[sid] for sid in ready
                              if sid in commissioned]
    by_id = {r.get("system_id"): r for r in records if r.get("system_id")}
    phases = {"commission → BMC on (region, broker, rack)": [],
              "BMC on → job reported (boot decision, scripts, status)": [],
              "Ready → BMC off (region, broker, rack)": []}
    keys = list(phases)
    for sid, record in by_id.items():
        if sid in commissioned and record.get("on_seen"):
            phases[keys[0]].append(record["on_seen"] - commissioned[sid])
        if record.get("on_seen") and record.get("job_ended"):
            phases[keys[1]].append(record["job_ended"] - record["on_seen"])
        if sid in ready and record.get("off_seen"):
            phases[keys[2]].append(record["off_seen"] - ready[sid])
    run.phases = phases
    run.requests = sum(r.get("requests", 0) for r in records)
    http_errors = [e for r in records for e in r.get("http_errors", [])]
    failed_boots = [r for r in records if not r.get("ok")]
    log_errors = []
    for path in sorted(Path(run.logs).glob("*.log")):
        log_errors += [f"{path.name}: {line[:200]}" for line in
                       path.read_text(errors="replace").splitlines() if ERROR_LINE.search(line)]
    run.errors = {
        "commission requests": len(bad_requests),
        "runner HTTP errors": len(http_errors),
        "failed boots": len(failed_boots),
        "boots missing": max(0, run.options.machines - len(records)),
        "not Ready": run.options.machines - run.ready,
        "error log lines": len(log_errors),
    }
    run.error_samples = (bad_requests[:5] + http_errors[:5] + log_errors[:5]
                         + [json.dumps({k: r.get(k) for k in ("fake_id", "system_id",
                                                              "interrupted", "action")})
                            for r in failed_boots[:5]])


# Report -------------------------------------------------------------------------------------
def versions() -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        return f"SQLite {connection.Database.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0].split()[0]
    from maasproject.celery import app

    broker = app.conf.broker_url
    if not broker.startswith("redis"):
        return f"PostgreSQL {pg} + {broker.split(':', 1)[0]} broker"
    import redis

    return f"PostgreSQL {pg} + Redis {redis.Redis.from_url(broker).info()['redis_version']}"


def listener(o: Options) -> str:
    if not o.rack_listener:
        return "no rack listener (the rack uses the main listener)"
    return (f"rack listener {o.rack_web_workers} gthread worker(s) × {o.rack_web_threads} "
            "threads (the rack's URL: heartbeats, boot decisions)")


ROLES = ("gunicorn", "rack listener", "region worker", "beat", "haproxy")


def role_cpu(cpu: dict[str, float]) -> dict[str, float]:
    """The region's CPU s by role, summed over its hosts ("gunicorn 2"...) and HAProxy's."""
    roles = dict.fromkeys((role for role in ROLES if role in cpu), 0.0)
    for name, value in cpu.items():
        role = next((r for r in ROLES if name == r or name.startswith(r + " ")), None)
        if role:
            roles[role] += value
    return roles


def regions(o: Options) -> str:
    if o.regions == 1:
        return "1 region host"
    return (f"{o.regions} region hosts (processes on this machine, each with all of the "
            "following) behind HAProxy (one front for the main listeners, one for the rack "
            "listeners)")


def report(run: Run) -> str:
    o, cores = run.options, os.cpu_count()
    wall = run.t_all_ready - run.t_first_request if run.t_all_ready else float("nan")
    off = run.t_all_off - run.t_first_request if run.t_all_off else float("nan")
    span = max(run.t_done - run.t_first_request, 1e-9)
    roles = role_cpu(run.cpu)
    region = sum(roles.values())
    parts = " + ".join(f"{value:.1f}" for value in roles.values())
    ours = sum(run.cpu.values())
    shared = run.host["other postgres processes"] + run.host["redis-server"] + run.host["irq"]
    other = max(0.0, run.host["host busy"] - ours - shared)
    lines = [
        f"### Commissioning throughput, {o.machines} fake machines at once "
        f"({time.strftime('%Y-%m-%d')}, {cores} cores, {cpu_model()}, Python "
        f"{platform.python_version()}, {versions()})",
        "",
        f"{regions(o)}: gunicorn {o.web_workers} sync workers (backlog {o.backlog}), "
        f"{listener(o)}, "
        f"region worker prefork "
        f"{o.region_concurrency}, {'beat' if o.beat else 'no beat'}, rack worker prefork "
        f"{o.rack_concurrency} (via rackd), fake "
        f"runner: one process, a thread per machine and per script of a parallel batch, "
        f"scripts {o.script_seconds:g} s each. Load average (1/5/15 min) before: {run.load[0]}, "
        f"after: {run.load[1]}.",
        "",
        "| machines | Ready | wall s: first request → all Ready | → all BMCs off | "
        "per machine s (request → Ready) p50 / p95 / max | region CPU s ("
        f"{' + '.join(role_cpu(run.cpu))}) | "
        "region CPU avg | errors |",
        "|---|---|---|---|---|---|---|---|",
        f"| {o.machines} | {run.ready} | {wall:.1f} | {off:.1f} | {spread(run.per_machine)} | "
        f"{region:.1f} ({parts}) | "
        f"{100 * region / span:.0f}% of a core ({100 * region / span / cores:.0f}% of "
        f"{cores}) | {run.error_count} |",
        "",
        f"Commission requests ({o.request_concurrency or 'all'} in flight): answered in "
        f"{spread(run.commission_latency)} s (p50 / p95 / max), the last "
        f"{run.t_last_answer - run.t_first_request:.1f} s after the first was sent. Per machine "
        f"from the commission Event (request handled) to Ready: "
        f"{spread(run.per_machine_region)} s.",
        "Per machine, p50 / p95 / max s: " + "; ".join(
            f"{name}: {spread(values)}" for name, values in run.phases.items()) + ".",
        f"Rack heartbeats (every 0.5 s through the rack's URL): {run.heartbeats}.",
        f"Metadata and rack API requests by the runner: {run.requests} "
        f"({run.requests / span:.0f}/s over the run).",
        f"CPU s over the {span:.1f} s run: " + ", ".join(
            f"{name} {value:.1f}" for name, value in run.cpu.items())
        + f" (PostgreSQL: this database's backends); shared services: PostgreSQL's other "
        f"processes {run.host['other postgres processes']:.1f}, redis-server "
        f"{run.host['redis-server']:.1f}, kernel irq/softirq {run.host['irq']:.1f}; whole "
        f"host busy {run.host['host busy']:.1f} of {span * cores:.1f} "
        f"(everything else, i.e. other people's work: ≈ {other:.1f}).",
        "Errors: " + ", ".join(f"{name} {n}" for name, n in run.errors.items())
        + f". TCP listen queue overflows on the host during the run: {run.listen_overflows}.",
        f"Statuses: {run.statuses}.",
    ]
    if run.error_samples:
        lines.append("Error samples: " + " | ".join(run.error_samples[:12]))
    return "\n".join(lines)


def broker_clients(url: str) -> int:
    """How many other clients are connected to this Redis database."""
    import redis

    client = redis.Redis.from_url(url)
    db, me = client.connection_pool.connection_kwargs.get("db", 0), client.client_id()
    return sum(1 for c in client.client_list() if int(c.get("db", -1)) == db and int(c["id"]) != me)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--backlog", type=int, default=4096,
                        help="gunicorn's listen queue (gunicorn's own default: 2048)")
    parser.add_argument("--region-concurrency", type=int, default=2)
    parser.add_argument("--beat", action=argparse.BooleanOptionalAction, default=True,
                        help="run celery beat (rack status sweep, deadlines, power polls)")
    parser.add_argument("--rack-concurrency", type=int, default=8)
    parser.add_argument("--request-concurrency", type=int, default=0,
                        help="commission requests in flight (default: all at once)")
    parser.add_argument("--script-seconds", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--rack-listener", action=argparse.BooleanOptionalAction, default=True,
                        help="serve the rack API on a listener of its own, the rack's URL "
                             "(--no-rack-listener: the rack uses the main listener)")
    parser.add_argument("--rack-port", type=int, default=RACK_PORT)
    parser.add_argument("--rack-web-workers", type=int, default=1)
    parser.add_argument("--rack-web-threads", type=int, default=8)
    parser.add_argument("--regions", type=int, default=1,
                        help="region hosts; several run behind HAProxy (needs haproxy)")
    args = parser.parse_args()
    options = Options(**vars(args))
    # Imported before the environment is set: importing it sets its own defaults.
    from bench.api_list import recreate_database

    var = Path(tempfile.mkdtemp(prefix="bench-commission-"))
    env = dict(os.environ, DATABASE_URL=DB_URL, CELERY_BROKER_URL=BROKER, VAR_DIR=str(var),
               DJANGO_SETTINGS_MODULE="maasproject.settings", LOG_LEVEL="WARNING",
               PYTHONUNBUFFERED="1")
    os.environ.update(env)
    if broker_clients(BROKER):
        sys.exit(f"Someone else is connected to {BROKER}: their workers would take our tasks. "
                 "Choose another database with BENCH_BROKER_URL.")
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    recreate_database(DB_URL)
    import django

    django.setup()
    run = run_benchmark(options, env, var)
    others = broker_clients(BROKER)  # ours are stopped: anyone left came during the run
    print("\n" + report(run))
    if others:
        print(f"\nWARNING: {others} other client(s) connected to {BROKER} during the run.")
    print(f"\nlogs: {var}")
    sys.exit(0 if run.error_count == 0 else 1)


if __name__ == "__main__":
    main()
