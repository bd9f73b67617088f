"""Benchmark: the console's machine list (GET /machines/) with 10,000 machines on PostgreSQL.

Usage: .venv/bin/python bench/machine_list_page.py [--machines 10000] [--requests 50]
Seeds a throwaway database as bench/api_list.py does (BENCH_DATABASE_URL, default
maas_bench_console, dropped and created first): each machine with 2 interfaces, 2 disks, 2 tags,
plus here an address on its first interface, two events and its boot VLAN (two racks share
the VLANs); a sixth of them owned by a user. Then times each page N times server-side through
Django's test Client (in-process: the view, its SQL and the template) and over HTTP through
gunicorn (2 workers, session cookie, one keep-alive connection), and counts its SQL queries.
"""
import argparse
import http.client
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/maas_bench_console")
os.environ.setdefault("BENCH_PORT", "5301")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.api_list import (  # noqa: E402 - sets the benchmark's environment first
    PORT,
    percentile,
    recreate_database,
    seed,
    start_server,
)
from bench.host import loadavg, machine_summary  # noqa: E402


def seed_console(count: int) -> None:
    """What the console shows beyond bench/api_list's seed: addresses, events, boot VLANs with
    racks, an owner for every sixth machine, a status spread over the four groups."""
    from ipaddress import ip_network

    from django.contrib.auth.models import User
    from django.db import connection

    from nodes.models import Event, Interface, Machine
    from zones.models import VLAN, Fabric, RackController, StaticIPAddress, Subnet

    racks = [RackController.objects.create(name=f"rack-{i}", system_id=f"rack{i}")
             for i in range(2)]
    fabric = Fabric.objects.create(name="bench")
    vlans = [VLAN.objects.create(fabric=fabric, vid=10 + i, primary_rack=racks[i])
             for i in range(2)]
    subnet = Subnet.objects.create(cidr="10.64.0.0/16", vlan=vlans[0])
    hosts = ip_network("10.64.0.0/16").hosts()
    boot = list(Interface.objects.filter(name="eth0").order_by("machine_id"))
    for i, interface in enumerate(boot):
        interface.vlan = vlans[i % 2]
    Interface.objects.bulk_update(boot, ["vlan"], batch_size=5000)
    StaticIPAddress.objects.bulk_create(
        [StaticIPAddress(ip=str(next(hosts)), subnet=subnet, interface=interface)
         for interface in boot], batch_size=5000)
    ids = list(Machine.objects.order_by("id").values_list("id", flat=True))
    Event.objects.bulk_create(
        [Event(machine_id=pk, type="commission", description=f"step {j}")
         for pk in ids for j in range(2)], batch_size=5000)
    user = User.objects.create_user("operator", "op@example.com", "operator-password")
    Machine.objects.filter(id__in=ids[::6]).update(owner=user)
    for status, every in ((2, 7), (6, 5), (11, 11)):  # Failed commissioning, Deployed, ...
        Machine.objects.filter(id__in=ids[3::every]).update(status=status)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def scenarios(count: int) -> list[tuple[str, str, str]]:
    """(label, who, path): who is "admin" (bench) or "user" (operator)."""
    last = (count + 49) // 50
    return [
        ("first page (admin)", "admin", "/machines/"),
        ("first page (user: unowned + own)", "user", "/machines/"),
        ("filtered + searched (status=ready, tag=tag1, q=node-0)", "admin",
         "/machines/?status=ready&tag=tag1&q=node-0"),
        ("search by IP (q=10.64.3.7)", "admin", "/machines/?q=10.64.3.7"),
        ("search by MAC (q=52:54:00:00:0a:0b)", "admin", "/machines/?q=52:54:00:00:0a:0b"),
        ("search by partial IP (q=10.64.1.)", "admin", "/machines/?q=10.64.1."),
        ("rack filter (rack=rack-1, zone=default)", "admin",
         "/machines/?rack=rack-1&zone=default"),
        (f"last page (page={last})", "admin", f"/machines/?page={last}"),
        ("live endpoint (50 ids)", "admin", "/machines/live/?ids=" + ",".join(
            f"b{i:05d}" for i in range(50))),
    ]


def clients() -> dict:
    """A logged-in test Client per role."""
    from django.contrib.auth.models import User
    from django.test import Client

    found = {}
    for who, username in (("admin", "bench"), ("user", "operator")):
        client = Client()
        client.force_login(User.objects.get(username=username))
        found[who] = client
    return found


def time_in_process(client, path: str, count: int) -> tuple[list[float], int]:
    """Milliseconds per request through the test Client (after 3 warm-ups), and its queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    for i in range(count + 3):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content[:300]
        if i >= 3:
            timings.append(elapsed)
    with CaptureQueriesContext(connection) as context:
        client.get(path)
    return timings, len(context.captured_queries)


def time_http(cookie: str, path: str, count: int) -> list[float]:
    """Milliseconds per request through gunicorn with a session cookie (after 3 warm-ups)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    timings = []
    for i in range(count + 3):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}"})
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200, (path, response.status, body[:200])
        if i >= 3:
            timings.append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    recreate_database()
    started = time.perf_counter()
    seed(args.machines)
    seed_console(args.machines)
    print(f"seeded {args.machines} machines in {time.perf_counter() - started:.1f}s")
    logged_in = clients()
    rows = []
    for label, who, path in scenarios(args.machines):
        timings, queries = time_in_process(logged_in[who], path, args.requests)
        rows.append([label, queries, timings])
    server = start_server()
    try:
        for row, (_label, who, path) in zip(rows, scenarios(args.machines), strict=True):
            row.append(time_http(logged_in[who].cookies["sessionid"].value, path,
                                 args.requests))
    finally:
        server.terminate()
        server.wait()
    report(args, rows)


def report(args, rows) -> None:
    print(f"\n## Console machine list (issue 18)\n\n{machine_summary(utc=True)}; "
          f"load average {loadavg()}; {args.machines} machines on PostgreSQL; "
          f"N={args.requests} requests each after 3 warm-ups.\n")
    print("| request | SQL queries | server (test Client) p50 / p95 ms "
          "| HTTP (gunicorn, 2 workers) p50 / p95 ms |")
    print("|---|---|---|---|")
    for label, queries, local, remote in rows:
        print(f"| {label} | {queries} | {statistics.median(local):.1f} / "
              f"{percentile(local, 95):.1f} | {statistics.median(remote):.1f} / "
              f"{percentile(remote, 95):.1f} |")


if __name__ == "__main__":
    main()
