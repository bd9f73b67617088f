"""Benchmark: GET /MAAS/api/2.0/machines/ with 10,000 machines (MAAS returns them all, no
paging), a filtered list of about 100, and the same full list through python-libmaas.

Usage: .venv/bin/python bench/maas_list.py [--machines 10000] [--requests 50]
Seeds the database as bench/api_list.py does (BENCH_DATABASE_URL, dropped and created first),
puts 150 machines in zone `row-1` (100 of them Ready), serves it with gunicorn (2 workers) and
times real HTTP requests over one keep-alive connection; SQL queries are counted in-process.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.api_list import (  # noqa: E402 - sets the benchmark's environment first
    PORT,
    count_queries,
    percentile,
    print_table,
    recreate_database,
    seed,
    start_server,
    time_requests,
)

API = "/MAAS/api/2.0/machines/"


def seed_zone() -> None:
    """150 machines in zone row-1: the filtered list (status ready) returns 100 of them."""
    from nodes.models import Machine
    from zones.models import Zone

    zone = Zone.objects.create(name="row-1")
    ids = list(Machine.objects.order_by("id").values_list("id", flat=True)[:150])
    Machine.objects.filter(id__in=ids).update(zone=zone)


def libmaas_list(key: str, count: int) -> list[float]:
    """Seconds per client.machines.list() through python-libmaas (after one warm-up)."""
    from maas.client import connect

    client = connect(f"http://127.0.0.1:{PORT}/MAAS/", apikey=key)
    timings = []
    for attempt in range(count + 1):
        started = time.perf_counter()
        machines = client.machines.list()
        if attempt:
            timings.append((time.perf_counter() - started) * 1000)
    assert len(machines) > 0
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--full-requests", type=int, default=10)
    args = parser.parse_args()
    recreate_database()
    key = seed(args.machines)
    seed_zone()
    filtered = API + "?zone=row-1&status=ready"
    scenarios = [(f"full list ({args.machines})", API, args.full_requests),
                 ("filtered (zone=row-1, status=ready: 100)", filtered, args.requests)]
    server = start_server()
    try:
        rows = [(label, n, *_stats(time_requests(key, path, n)), count_queries(key, path))
                for label, path, n in scenarios]
        client = libmaas_list(key, 3)
        rows.append((f"python-libmaas client.machines.list() ({args.machines})", 3,
                     *_stats(client), "-"))
    finally:
        server.terminate()
        server.wait()
    report(args, rows)


def _stats(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings), percentile(timings, 95)


def report(args, rows) -> None:
    print_table("MAAS API 2.0 machine list", args, rows)

if __name__ == "__main__":
    main()
