"""Benchmark: a full power-query sweep of N machines through the real dispatch path.

N virtual IPMI BMCs run in one process; the region claims every machine in one polling tick
(nodes.services.power_polling), dispatch sends each query to a rack worker over Redis, the rack
worker's IPMI driver queries the BMC, and a region worker records the result in PostgreSQL.

Usage: .venv/bin/python bench/power_sweep.py [--machines 1000] [--rack-concurrency 16]
Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/maas_bench_power,
dropped and created); broker: BENCH_BROKER_URL (default redis://127.0.0.1:6379/12, flushed).
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.api_list import recreate_database  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL",
                        "postgres://postgres@127.0.0.1:5432/maas_bench_power")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
VAR = tempfile.mkdtemp(prefix="bench-power-")
ENV = dict(os.environ, DATABASE_URL=DB_URL, CELERY_BROKER_URL=BROKER, VAR_DIR=VAR,
           DJANGO_SETTINGS_MODULE="maasproject.settings", LOG_LEVEL="WARNING",
           POWER_POLL_INTERVAL="60", POWER_POLL_TICK="60", PYTHONUNBUFFERED="1")
os.environ.update(ENV)
SUCCEEDED = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}).*Task rack_worker\.tasks\.power"
                       r"\[[^\]]+\] succeeded in ([0-9.]+)s")


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=ENV, start_new_session=True,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def start_bmcs(count: int, log: Path) -> tuple[subprocess.Popen, list[int]]:
    proc = subprocess.Popen([sys.executable, "-m", "lab.vbmc", "--port", "0", "--count",
                             str(count), "--user", "admin", "--password", "bench-pass"],
                            cwd=ROOT, env=ENV, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=open(log, "wb"), text=True)
    ready = json.loads(proc.stdout.readline())["ready"]
    return proc, [bmc["port"] for bmc in ready]


def seed(ports: list[int]) -> None:
    import django

    django.setup()
    from nodes.models import Machine
    from power.services.parameters import machine_set_power
    from zones.models import RackController
    from zones.rackkeys import rack_power_key

    rack = RackController.objects.create(name="bench-rack", system_id="benchrk", status="running")
    # What rackd would keep after registering: the key the rack opens sealed parameters with.
    credentials = Path(VAR) / "credentials.json"
    credentials.write_text(json.dumps({"power_key": rack_power_key(rack.system_id,
                                                                   rack.token_hash)}))
    ENV["RACK_CREDENTIALS"] = str(credentials)
    for i, port in enumerate(ports):
        machine = Machine(hostname=f"bmc-{i:04d}", system_id=f"p{i:05d}")
        machine_set_power(machine, "ipmi", {"power_address": "127.0.0.1", "power_port": port,
                                            "power_user": "admin", "power_pass": "bench-pass"})
        machine.save()


def run_sweep(count: int, timeout: float) -> tuple[float, dict]:
    from django.db.models import Count

    from nodes.models import Machine
    from nodes.services.power_polling import poll_power_states

    started = time.perf_counter()
    sent = poll_power_states()
    assert sent == count, f"claimed {sent} of {count}"
    while time.perf_counter() - started < timeout:
        pending = Machine.objects.filter(power_state="unknown").count()
        if pending == 0:
            break
        time.sleep(0.25)
    wall = time.perf_counter() - started
    states = dict(Machine.objects.values_list("power_state").annotate(n=Count("id")))
    return wall, states


def peak_concurrency(log: Path) -> tuple[int, float]:
    """Overlap of rack task intervals (from the worker log), and their median runtime."""
    intervals = []
    for stamp, runtime in SUCCEEDED.findall(log.read_text()):
        end = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        intervals.append((end - float(runtime), end))
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = current = 0
    for _, delta in points:
        current += delta
        peak = max(peak, current)
    runtimes = sorted(e - s for s, e in intervals)
    return peak, runtimes[len(runtimes) // 2] if runtimes else 0.0


def replace_region_worker(procs: list, index: int, args: list[str], log: Path) -> None:
    """kill -9 the region worker mid-sweep (results it held must be delivered again), then
    start another."""
    os.killpg(procs[index].pid, 9)
    print(f"killed the region worker (pid {procs[index].pid}) at "
          f"{time.strftime('%H:%M:%S')}", flush=True)
    procs[index] = spawn(args, log)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--rack-concurrency", type=int, default=16)
    parser.add_argument("--rack-pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument("--region-concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--kill-region-worker-after", type=float, default=0, metavar="SECONDS",
                        help="kill -9 the region worker this long into the sweep, start another")
    args = parser.parse_args()
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    recreate_database(DB_URL)
    logs = Path(VAR)
    bmcs, ports = start_bmcs(args.machines, logs / "vbmc.log")
    procs = [bmcs]
    try:
        seed(ports)
        region = ["-m", "celery", "-A", "maasproject", "worker", "-Q", "region", "-c",
                  str(args.region_concurrency), "-l", "warning", "--without-gossip",
                  "--without-mingle"]
        procs.append(spawn(region, logs / "region.log"))
        procs.append(spawn(["-m", "rack_worker", "--name", "bench-rack", "--pool", args.rack_pool,
                            "--concurrency", str(args.rack_concurrency)], logs / "rack.log"))
        time.sleep(5)  # workers connect to the broker
        if args.kill_region_worker_after:
            threading.Timer(args.kill_region_worker_after, replace_region_worker,
                            (procs, 1, region, logs / "region-2.log")).start()
        wall, states = run_sweep(args.machines, args.timeout)
    finally:
        for proc in procs:
            os.killpg(proc.pid, 15)
    peak, median = peak_concurrency(logs / "rack.log")
    errors = args.machines - states.get("on", 0) - states.get("off", 0)
    print(f"\n### Power-query sweep, {args.machines} virtual IPMI BMCs in one process "
          f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, PostgreSQL + Redis)\n")
    print("| machines | rack pool | wall time s | rack concurrency (peak seen) | median query s | "
          "errors | states |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.machines} | {args.rack_pool} | {wall:.1f} | {args.rack_concurrency} ({peak}) "
          f"| {median:.3f} | {errors} | {states} |")
    print(f"\nlogs: {logs}")


if __name__ == "__main__":
    main()
