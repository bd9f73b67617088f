"""PostgreSQL stopped under a live region web server: every API answers a JSON 503 with
Retry-After, never an HTML 500, and the server answers normally once PostgreSQL is back.

A PostgreSQL cluster of the test's own on a spare port (tests.faults.backends), never the
machine's shared one.
"""
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.faults.backends import PrivatePostgres
from tests.processes import PROJECT_DIR, free_tcp_port, process_env, start, stop, wait_until

# (method, path, Authorization header) of each API: users', booting machines', racks'.
CALLS = [
    ("GET", "/api/v1/machines/", "Bearer {key}"),
    ("GET", "/api/v1/metadata/job/", "Machine abc123:not-a-token"),
    ("POST", "/api/v1/rack/heartbeat/", "Rack abc123:not-a-token"),
]


def call(base: str, method: str, path: str, authorization: str) -> tuple[int, dict, str]:
    request = urllib.request.Request(base + path, method=method,
                                     headers={"Authorization": authorization},
                                     data=b"{}" if method == "POST" else None)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def postgres():
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.destroy()


@pytest.mark.integration
def test_api_answers_503_while_postgres_is_down_then_recovers(tmp_path, postgres):
    extra = {"DATABASE_URL": postgres.url, "VAR_DIR": str(tmp_path / "var")}
    env = process_env(**extra)
    manage(env, "migrate", "-v", "0")
    manage(env, "createadmin", "--username", "ops")
    key = manage(env, "apikey", "--username", "ops").strip().splitlines()[-1]
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    web = start(["-m", "gunicorn", "maasproject.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
                 "--timeout", "60"], log, **extra)
    try:
        def machines_answer() -> bool:
            assert web.poll() is None, "gunicorn died:\n" + log.read_text()
            try:
                return call(base, "GET", "/api/v1/machines/", f"Bearer {key}")[0] == 200
            except OSError:
                return False

        wait_until(machines_answer, 60, log.read_text)
        postgres.stop()
        for method, path, authorization in CALLS:
            status, headers, body = call(base, method, path, authorization.format(key=key))
            assert status == 503, f"{method} {path}: {status} {body[:300]}"
            assert headers["Content-Type"] == "application/json", (path, headers)
            assert headers["Retry-After"].isdigit(), (path, headers)
            assert "database unavailable" in json.loads(body)["detail"], (path, body)
        postgres.start()
        # The broken persistent connection is dropped: the next requests succeed by themselves.
        wait_until(machines_answer, 30, log.read_text)
    finally:
        stop(web)
