"""Benchmark: how long each HA failover takes, N times each, and what it lost (must be nothing).

Scenarios (bench/ha_failover_scenarios.py; every sample on fresh backends of its own, built from
the tests/ha helpers and the integration tests' setup, never the machine's shared PostgreSQL
or Redis):

(1) region: two region hosts (gunicorn web, region worker, beat each) behind HAProxy
    (lab/ha/haproxy.cfg), two clients allocating machines and powering them on through it;
    every process group of one region killed with kill -9. Measured: seconds from the kill
    until requests through HAProxy succeed again (the first success after the last failure).
    Acknowledged: allocations answered 200; lost: those whose machine has no owner.
(2) postgres: etcd and two Patroni nodes in synchronous mode (lab/ha/patroni.yml), a region
    web server on a multi-host DATABASE_URL (target_session_attrs=read-write), two clients
    creating zones; the primary's Patroni and PostgreSQL killed with kill -9. Measured: seconds
    until a write is answered 201 again. Acknowledged: zones answered 201; lost: those missing
    from the new primary.
(3) redis: a Redis master, its replica and three Sentinels (appendfsync always), a region
    (web, worker, beat) and a rack with fake BMCs on `sentinel://` URLs, a client powering
    machines on; the master killed with kill -9. Measured: seconds from the kill until the
    first action accepted after it reached its outcome (tasks flowing again). Acknowledged:
    actions answered 200; lost: those whose machine is not on, or has no outcome recorded.

Usage: .venv/bin/python bench/ha_failover_bench.py [--runs 5] [--only region|postgres|redis]
                                                   [--append-results]
Needs haproxy, patroni, etcd, redis-server and the PostgreSQL server binaries; run as root
(PostgreSQL and Patroni then run as `postgres`) or as a user who may run them.
"""
import argparse
import os
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The tests' helpers read Django's settings (their children's defaults): the test settings,
# whose database and broker every child is given explicitly here.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maasproject.settings.test")

import django  # noqa: E402
import pytest  # noqa: E402  (the helpers skip with it when a binary is missing)

django.setup()

from bench.ha_failover_scenarios import SCENARIOS, Sample  # noqa: E402
from bench.host import loadavg, machine_summary  # noqa: E402
from bench.lifecycle_bench import RESULTS, publish  # noqa: E402

TITLES = {"region": "region kill -9 (web, worker, beat) → API served again through HAProxy",
          "postgres": "PostgreSQL primary kill -9 → writes accepted again",
          "redis": "Redis master kill -9 → an action accepted after the kill reaches its "
                   "outcome"}


def measure(name: str, runs: int) -> list[Sample]:
    """`runs` samples of one scenario; a sample that broke is kept as a failure."""
    samples = []
    for n in range(1, runs + 1):
        print(f"{name}: run {n}/{runs}...", flush=True)
        started = time.monotonic()
        try:
            sample = SCENARIOS[name]()
        # A missing binary skips (pytest's skip, outside Exception): reported like a failure.
        except (Exception, pytest.skip.Exception) as error:  # noqa: BLE001 -- in the table
            traceback.print_exc()
            sample = Sample(None, 0, [], f"failed: {type(error).__name__}: {first_line(error)}")
        samples.append(sample)
        print(f"  {seconds(sample.seconds)} s, {sample.acknowledged} acknowledged, "
              f"{len(sample.lost)} lost; {sample.note} (sample took "
              f"{time.monotonic() - started:.0f} s)", flush=True)
    return samples


def first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:200]


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def report(name: str, samples: list[Sample]) -> str:
    """A scenario's table: every sample, then median and max, and the writes lost."""
    lines = [f"#### {TITLES[name]}", "", "| run | seconds | writes acknowledged | lost | notes |",
             "|---|---|---|---|---|"]
    for n, sample in enumerate(samples, start=1):
        lost = ", ".join(sample.lost[:5]) + ("…" if len(sample.lost) > 5 else "")
        lines.append(f"| {n} | {seconds(sample.seconds)} | {sample.acknowledged} | "
                     f"{len(sample.lost)}{' (' + lost + ')' if lost else ''} | {sample.note} |")
    values = sorted(s.seconds for s in samples if s.seconds is not None)
    middle = values[len(values) // 2] if values else None
    lost = sum(len(s.lost) for s in samples)
    failed = sum(s.seconds is None for s in samples)
    lines += ["", f"**median {seconds(middle)} s, max {seconds(values[-1] if values else None)}"
                  f" s** over {len(values)} of {len(samples)} runs"
                  f"{f' ({failed} did not recover or broke)' if failed else ''}; acknowledged "
                  f"writes lost: {lost} of {sum(s.acknowledged for s in samples)} "
                  f"({'OK' if lost == 0 else 'FAIL: must be 0'})."]
    return "\n".join(lines)


def header(args: argparse.Namespace, load: list[str]) -> str:
    only = f" --only {args.only}" if args.only else ""
    return (f"{machine_summary('%Y-%m-%d %H:%M UTC', utc=True)}; Python "
            f"{platform.python_version()}. Load average before {load[0]}, after {load[-1]}. "
            f"Every process on 127.0.0.1, each run on fresh backends. Command: `.venv/bin/python "
            f"bench/ha_failover_bench.py --runs {args.runs}{only}`.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="samples per scenario (default 5)")
    parser.add_argument("--only", choices=tuple(SCENARIOS), help="one scenario (default all)")
    parser.add_argument("--append-results", action="store_true",
                        help=f"append the tables to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs: at least 1")
    return args


def main() -> int:
    args = parse_args()
    names = [args.only] if args.only else list(SCENARIOS)
    load = [loadavg()]
    results = {name: measure(name, args.runs) for name in names}
    load.append(loadavg())
    publish("## HA failover times — `bench/ha_failover_bench.py`", header(args, load),
            [report(name, samples) for name, samples in results.items()], args.append_results)
    lost = sum(len(s.lost) for samples in results.values() for s in samples)
    broken = any(s.seconds is None for samples in results.values() for s in samples)
    return 1 if lost or broken else 0


if __name__ == "__main__":
    sys.exit(main())
