"""A live region (gunicorn) on a database of the test's own, and HTTP calls to it."""
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.processes import PROJECT_DIR, free_tcp_port, process_env, start, stop, wait_until


def call(base: str, method: str, path: str, authorization: str,
         body: dict | None = None) -> tuple[int, dict, str]:
    """(status, headers, body text) of one request; HTTP errors are answers too."""
    data = json.dumps(body or {}).encode() if method in ("POST", "PATCH", "PUT") else None
    request = urllib.request.Request(base + path, method=method, data=data,
                                     headers={"Authorization": authorization,
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def manage(env: dict, *args: str) -> str:
    """Run manage.py with env; its output (fails the test on an error)."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def prepare_database(extra: dict) -> str:
    """Migrate the database extra["DATABASE_URL"] names and return an admin's API key."""
    env = process_env(**extra)
    manage(env, "migrate", "-v", "0")
    manage(env, "createadmin", "--username", "ops")
    return manage(env, "apikey", "--username", "ops").strip().splitlines()[-1]


def start_web(extra: dict, log: Path, key: str | None, workers: int = 1,
              options: tuple[str, ...] = ()):
    """gunicorn with `workers` workers on a spare port, once it answers; (process, base URL).

    It answers: GET /api/v1/machines/ 200 with `key`; with no key, /healthz at all (200, or
    503 naming a backend that is down). `options`: more gunicorn options.

    Stopped again if it never answers: a test's clean-up only knows processes it got back.
    """
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    web = start(["-m", "gunicorn", "maasproject.wsgi", "-b", f"127.0.0.1:{port}", "-w",
                 str(workers), "--timeout", "60", *options], log, **extra)
    try:
        wait_until(lambda: answers(web, base, key, log), 60, log.read_text)
    except BaseException:
        stop(web)
        raise
    return web, base


def answers(web, base: str, key: str | None, log: Path) -> bool:
    """True once GET /api/v1/machines/ answers 200 (with no key: once /healthz answers)."""
    assert web.poll() is None, "gunicorn died:\n" + log.read_text()
    try:
        if key is None:
            return health(base)[0] in (200, 503)
        return call(base, "GET", "/api/v1/machines/", f"Bearer {key}")[0] == 200
    except OSError:
        return False


def health(base: str) -> tuple[int, dict]:
    """(status, JSON body) of GET /healthz, unauthenticated."""
    request = urllib.request.Request(base + "/healthz")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
