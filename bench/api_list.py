"""Benchmark: machine list latency and SQL queries per request with 10,000 machines on PostgreSQL.

Usage: .venv/bin/python bench/api_list.py [--machines 10000] [--requests 200]
Creates (and drops first) the database named by BENCH_DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/maas_bench), seeds it, serves it with gunicorn on
127.0.0.1, and times real HTTP requests over one keep-alive connection.
"""
import argparse
import http.client
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/maas_bench")
PORT = int(os.environ.get("BENCH_PORT", "5299"))
VAR = tempfile.mkdtemp(prefix="bench-var-")
os.environ.update(DATABASE_URL=DB_URL, VAR_DIR=VAR, CELERY_BROKER_URL="memory://",
                  DJANGO_SETTINGS_MODULE="maasproject.settings", LOG_LEVEL="WARNING")
sys.path.insert(0, str(ROOT))

from bench.host import cpu_model  # noqa: E402  (after the project is on sys.path)


def recreate_database(db_url: str = DB_URL) -> None:
    """Drop and create the benchmark database, then migrate it (DATABASE_URL must match)."""
    import psycopg

    url = urlparse(db_url)
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def seed(count: int) -> str:
    """Create `count` machines with 2 interfaces, 2 block devices, 2 tags; return an API key."""
    import django

    django.setup()
    from django.contrib.auth.models import User

    from nodes.models import ApiKey, BlockDevice, Interface, Machine, Tag
    from nodes.models.apikey import hash_secret

    tags = [Tag.objects.create(name=f"tag{i}") for i in range(10)]
    machines = Machine.objects.bulk_create(
        [Machine(hostname=f"node-{i:05d}", system_id=f"b{i:05d}", cpu_count=1 + i % 64,
                 memory=1024 * (1 + i % 32), status=4 if i % 3 else 6) for i in range(count)],
        batch_size=2000,
    )
    Interface.objects.bulk_create(
        [Interface(machine=m, name=f"eth{j}", mac_address=f"52:54:{j:02x}:{i >> 16 & 255:02x}:"
                   f"{i >> 8 & 255:02x}:{i & 255:02x}")
         for i, m in enumerate(machines) for j in range(2)], batch_size=5000)
    BlockDevice.objects.bulk_create(
        [BlockDevice(machine=m, name=f"sd{'ab'[j]}", size=500 * 10**9, model="QEMU HARDDISK")
         for m in machines for j in range(2)], batch_size=5000)
    through = Machine.tags.through
    through.objects.bulk_create(
        [through(machine_id=m.pk, tag_id=tags[(i + j) % 10].pk)
         for i, m in enumerate(machines) for j in range(2)], batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:  # planner statistics, as autovacuum keeps them live
        cursor.execute("ANALYZE")
    admin = User.objects.create_superuser("bench", "bench@example.com", "bench-password")
    consumer, token, secret = ApiKey.new_parts()
    ApiKey.objects.create(user=admin, consumer_key=consumer, token_key=token,
                          secret_hash=hash_secret(secret))
    return f"{consumer}:{token}:{secret}"


def count_queries(key: str, path: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.get(path)
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    return len(context.captured_queries)


def start_server() -> subprocess.Popen:
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "maasproject.wsgi", "-b", f"127.0.0.1:{PORT}",
         "-w", "2", "--timeout", "120", "--log-level", "warning"], cwd=ROOT)
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/admin/")
            return server
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def time_requests(key: str, path: str, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    headers = {"Authorization": f"Bearer {key}"}
    timings = []
    for i in range(count + 3):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 200, body[:200]
        if i >= 3:  # warm-up
            timings.append(elapsed * 1000)
    return timings


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--full-requests", type=int, default=10)
    args = parser.parse_args()
    recreate_database()
    started = time.perf_counter()
    key = seed(args.machines)
    print(f"seeded {args.machines} machines in {time.perf_counter() - started:.1f}s")
    scenarios = [
        ("page of 100", "/api/v1/machines/?limit=100", args.requests),
        ("filtered page (status=ready, tags=tag1)",
         "/api/v1/machines/?limit=100&status=ready&tags=tag1", args.requests),
        (f"full list ({args.machines})", f"/api/v1/machines/?limit={args.machines}",
         args.full_requests),
    ]
    queries = {limit: count_queries(key, f"/api/v1/machines/?limit={limit}")
               for limit in (10, 100, 1000, args.machines)}
    server = start_server()
    try:
        rows = []
        for label, path, count in scenarios:
            timings = time_requests(key, path, count)
            rows.append((label, count, statistics.median(timings), percentile(timings, 95),
                         count_queries(key, path)))
    finally:
        server.terminate()
        server.wait()
    report(args, rows, queries)


def print_table(title: str, args, rows) -> None:
    """The results as a RESULTS.md table under a heading naming the machine and the date."""
    print(f"\n### {title}, {args.machines} machines on PostgreSQL "
          f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"{cpu_model() or platform.processor()}, "
          f"Python {platform.python_version()}, gunicorn 2 workers)\n")
    print("| request | n | p50 ms | p95 ms | SQL queries |")
    print("|---|---|---|---|---|")
    for label, count, p50, p95, nq in rows:
        print(f"| {label} | {count} | {p50:.1f} | {p95:.1f} | {nq} |")


def report(args, rows, queries) -> None:
    print_table("Machine list", args, rows)
    print("\nSQL queries per request by page size: "
          + ", ".join(f"limit={k}: {v}" for k, v in queries.items()))

if __name__ == "__main__":
    main()
