"""kill -9 of gunicorn's workers during 200 machine writes: no machine is ever half written.

A gunicorn with several workers on a PostgreSQL of the test's own takes creates (MACs, IPMI
parameters), PATCHes and added interfaces from several client threads while its workers are
killed with SIGKILL a few times (the master starts new ones). Every write is one transaction
(nodes.services.machines): a worker killed inside one drops its connection and PostgreSQL
rolls the whole write back. What the database holds afterwards is checked against what each
request was answered: a 2xx write is there exactly as answered; a write whose connection broke
is there whole or not at all, never in part; nothing is left without its machine.
"""
import json
import os
import signal
import threading
import time

import pytest

from tests.faults.burst import ERROR, Burst, Write
from tests.faults.region import manage, prepare_database, start_web
from tests.processes import alive, child_pids, process_env, stop, wait_until

THREADS = 4
PER_THREAD = 50  # 200 writes
KILL_AT = tuple(range(15, 200, 25))  # writes done when the workers are killed (8 times)
WEB_WORKERS = 3

STATE = """
import json
from nodes.models import Event, Interface, Machine
from power.models import BMC
from power.services.parameters import machine_power_parameters
machines = {}
for m in Machine.objects.select_related("bmc").prefetch_related("interfaces", "events"):
    params = machine_power_parameters(m, reveal=True) if m.bmc else {}
    events = [e.type for e in m.events.all()]
    machines[m.hostname] = {
        "system_id": m.system_id, "description": m.description,
        "macs": sorted(str(i.mac_address) for i in m.interfaces.all()),
        "bmc": m.bmc.address if m.bmc else None, "password": params.get("power_pass"),
        "events": {kind: events.count(kind) for kind in set(events)}}
print(json.dumps({"machines": machines,
                  "orphan_bmcs": BMC.objects.filter(machines__isnull=True).count(),
                  "orphan_events": Event.objects.filter(
                      machine__isnull=True, type__in=["created", "updated", "interface_added"]
                  ).count(),
                  "orphan_interfaces": Interface.objects.filter(machine__isnull=True).count()}))
"""


def database_state(env: dict) -> dict:
    return json.loads(manage(env, "shell", "--no-imports", "-c", STATE).strip().splitlines()[-1])


def kill_workers(master: int, burst: Burst, killed: list[int]) -> None:
    """At each KILL_AT, SIGKILL every worker of the master (after new ones have started)."""
    for mark in KILL_AT:
        while burst.done < mark:
            time.sleep(0.05)
        wait_until(lambda: len(child_pids(master)) == WEB_WORKERS, 60, lambda: "no workers")
        workers = child_pids(master)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        killed.extend(workers)


def assert_whole(write: Write, machine: dict) -> None:
    """The machine as one of its versions, with every part of each write that took effect."""
    where = f"{write.hostname}: {machine}"
    assert machine["events"].get("created") == 1, where
    assert (machine["description"], machine["bmc"], machine["password"]) in write.versions(), where
    # The PATCH took effect exactly when its "updated" event is there.
    patched = machine["bmc"] != write.address
    assert machine["events"].get("updated", 0) == int(patched), where
    added = write.extra_mac in machine["macs"] if write.extra_mac else False
    assert machine["macs"] == sorted(write.macs + ([write.extra_mac] if added else [])), where
    assert machine["events"].get("interface_added", 0) == int(added), where
    if write.added == 201:
        assert added, where


@pytest.mark.integration
def test_kill_9_of_web_workers_during_200_writes_leaves_no_half_written_machine(
        tmp_path, postgres):
    extra = {"DATABASE_URL": postgres.url, "VAR_DIR": str(tmp_path / "var")}
    key = prepare_database(extra)
    log = tmp_path / "gunicorn.log"
    web, base = start_web(extra, log, key, workers=WEB_WORKERS)
    burst = Burst(base, f"Bearer {key}", THREADS, PER_THREAD)
    killed: list[int] = []
    killer = threading.Thread(target=kill_workers, args=(web.pid, burst, killed), daemon=True)
    try:
        started = time.monotonic()
        killer.start()
        burst.run()
        took = time.monotonic() - started
        killer.join(timeout=60)
        assert web.poll() is None, log.read_text()[-3000:]
    finally:
        stop(web)
    assert len(killed) == WEB_WORKERS * len(KILL_AT) and not any(map(alive, killed))
    answers = [s for w in burst.writes for s in (w.created, w.patched, w.added) if s is not None]
    assert len(answers) == THREADS * PER_THREAD
    broken = answers.count(ERROR)
    print(f"{len(answers)} writes in {took:.1f}s, {len(killed)} workers killed, "
          f"{broken} connections broken: {sorted(set(map(str, answers)))}")
    # Every request was answered with success or cut by a kill: never a 500.
    assert set(answers) <= {200, 201, ERROR}, answers

    state = database_state(process_env(**extra))
    machines = state["machines"]
    assert set(machines) <= {w.hostname for w in burst.writes}, sorted(machines)
    print(f"{len(machines)} machines in the database, "
          f"{sum(w.created == 201 for w in burst.writes)} creates answered 201")
    for write in burst.writes:
        if write.created == 201:
            assert write.hostname in machines, write
            assert machines[write.hostname]["system_id"] == write.system_id
        if write.hostname in machines:
            assert_whole(write, machines[write.hostname])
    assert (state["orphan_bmcs"], state["orphan_events"], state["orphan_interfaces"]) == (0, 0, 0)
