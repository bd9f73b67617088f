"""PostgreSQL stopped under a live region web server: every API answers a JSON 503 with
Retry-After, never an HTML 500, and the server answers normally once PostgreSQL is back.

A PostgreSQL cluster of the test's own on a spare port (tests.faults.backends), never the
machine's shared one.
"""
import json

import pytest

from tests.faults.region import answers, call, prepare_database, start_web
from tests.processes import stop, wait_until

# (method, path, Authorization header) of each API: users', booting machines', racks'.
CALLS = [
    ("GET", "/api/v1/machines/", "Bearer {key}"),
    ("GET", "/api/v1/metadata/job/", "Machine abc123:not-a-token"),
    ("POST", "/api/v1/rack/heartbeat/", "Rack abc123:not-a-token"),
]


@pytest.mark.integration
def test_api_answers_503_while_postgres_is_down_then_recovers(tmp_path, postgres):
    extra = {"DATABASE_URL": postgres.url, "VAR_DIR": str(tmp_path / "var")}
    key = prepare_database(extra)
    log = tmp_path / "gunicorn.log"
    web, base = start_web(extra, log, key)
    try:
        postgres.stop()
        for method, path, authorization in CALLS:
            status, headers, body = call(base, method, path, authorization.format(key=key))
            assert status == 503, f"{method} {path}: {status} {body[:300]}"
            assert headers["Content-Type"] == "application/json", (path, headers)
            assert headers["Retry-After"].isdigit(), (path, headers)
            assert "database unavailable" in json.loads(body)["detail"], (path, body)
        postgres.start()
        # The broken persistent connection is dropped: the next requests succeed by themselves.
        wait_until(lambda: answers(web, base, key, log), 30, log.read_text)
    finally:
        stop(web)
