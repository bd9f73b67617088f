"""PostgreSQL stopped 20 s in the middle of a burst of power results: the API answers a JSON 503
with Retry-After meanwhile, and once PostgreSQL is back every result is recorded, each once.

Real processes on backends of the test's own: a region worker and gunicorn on a private
PostgreSQL, results sent as racks send them to a private Redis. One result per machine, half on
and half off, so each machine's power state and events show whether its result was recorded,
lost or recorded twice.
"""
import time

import pytest

from tests.faults.broker import rack_app, send_power_result
from tests.faults.region import answers, call, manage, prepare_database, start_web
from tests.processes import process_env, region_worker_args, start, start_redis, stop, wait_until

MACHINES = 150  # one result each
STOP_AFTER = 20  # results recorded when PostgreSQL stops
OUTAGE = 20.0  # seconds
RECOVERY_TIMEOUT = 60  # a retry waits 10 s at most (maasproject.region_tasks)
SETUP = """
from tests.factories import MachineFactory
for n in range({count}):
    print(MachineFactory(hostname=f"burst-{{n:03d}}", power_type="fake").system_id)
"""


def recorded(postgres) -> int:
    return postgres.query("SELECT count(*) FROM nodes_powerresultreceipt")[0][0]


def outage_answers(base: str, key: str, seconds: float) -> list[tuple[int, dict, str]]:
    """Ask the API every 2 s for `seconds`: every answer, to check they are all 503s."""
    answers_seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers_seen.append(call(base, "GET", "/api/v1/machines/", f"Bearer {key}"))
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    return answers_seen


def logs(*paths) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text()[-4000:]}" for path in paths)


@pytest.mark.integration
def test_postgres_down_20s_mid_burst_records_every_result_once(tmp_path, postgres, monkeypatch):
    # Celery prefers $CELERY_BROKER_URL (set under CI) to the broker an app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    redis_server, broker = start_redis(tmp_path)
    extra = {"DATABASE_URL": postgres.url, "VAR_DIR": str(tmp_path / "var"),
             "CELERY_BROKER_URL": broker}
    key = prepare_database(extra)
    setup = SETUP.format(count=MACHINES)
    system_ids = manage(process_env(**extra), "shell", "--no-imports", "-c", setup).split()
    assert len(system_ids) == MACHINES
    expected = {sid: ("on" if n % 2 else "off") for n, sid in enumerate(system_ids)}
    web_log, worker_log = tmp_path / "gunicorn.log", tmp_path / "worker.log"
    web, base = start_web(extra, web_log, key)
    worker = start(region_worker_args("pg-outage"), worker_log, **extra)
    try:
        app = rack_app(broker)
        for sid, state in expected.items():
            send_power_result(app, f"result-{sid}", sid, state)
        wait_until(lambda: recorded(postgres) >= STOP_AFTER, 90, lambda: logs(worker_log))
        postgres.stop()
        seen = outage_answers(base, key, OUTAGE)
        postgres.start()
        restarted = time.monotonic()
        wait_until(lambda: recorded(postgres) >= MACHINES, RECOVERY_TIMEOUT,
                   lambda: f"{recorded(postgres)} of {MACHINES}\n" + logs(worker_log))
        recovery = time.monotonic() - restarted
        time.sleep(3)  # a duplicate would land now
        retries = worker_log.read_text().count("Retry in")
        print(f"{len(seen)} API answers during the {OUTAGE:.0f}s outage; every result recorded "
              f"{recovery:.1f}s after PostgreSQL returned; {retries} retries logged")

        for status, headers, body in seen:
            assert status == 503, f"{status} {body[:300]}\n" + logs(web_log)
            assert headers["Content-Type"] == "application/json", headers
            assert headers["Retry-After"].isdigit(), headers
        assert len(seen) >= 5
        assert retries > 0, "no result met the outage: " + logs(worker_log)
        # Every result recorded exactly once: its receipt, one event, its machine's state.
        receipts = postgres.query("SELECT request_id FROM nodes_powerresultreceipt")
        assert sorted(r for (r,) in receipts) == sorted(f"result-{sid}" for sid in expected)
        rows = postgres.query(
            "SELECT m.system_id, m.power_state, array_agg(e.type ORDER BY e.id) "
            "FROM nodes_machine m LEFT JOIN nodes_event e ON e.machine_id = m.id "
            "GROUP BY m.system_id, m.power_state")
        actual = {sid: (state, events) for sid, state, events in rows}
        assert actual == {sid: (state, [f"power_{state}"]) for sid, state in expected.items()}
        assert answers(web, base, key, web_log)  # the API is back by itself
    finally:
        for process in (web, worker, redis_server):
            stop(process)
