"""Helpers for tests that run real processes (workers, racks, BMCs) against the test database."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from lab.ha.procs import free_tcp_port, stop, wait_until  # noqa: F401 -- re-exported for the tests
from maasproject.celery import app as celery_app

PROJECT_DIR = Path(__file__).resolve().parents[1]


def child_database_url() -> str:
    """The URL of the database this test session uses (test_<name> on PostgreSQL)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    assert connection.vendor == "postgresql", connection.vendor
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a child process sharing this session's database, broker and var/."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="maasproject.settings.test",
        DATABASE_URL=child_database_url(),
        CELERY_BROKER_URL=celery_app.conf.broker_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        VAR_DIR=str(settings.VAR_DIR),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start(args: list[str], log_path: Path, **extra_env: str) -> subprocess.Popen:
    """Start `python args...` in its own session, output to log_path."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, *args], cwd=PROJECT_DIR, env=process_env(**extra_env),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def region_worker_args(name: str) -> list[str]:
    return ["-m", "celery", "-A", "maasproject", "worker", "-Q", "region", "--pool", "solo",
            "-c", "1", "-l", "info", "--without-mingle", "--without-gossip",
            "--hostname", f"{name}-{os.getpid()}@%h"]


def child_pids(pid: int) -> list[int]:
    """Process ids of a process's children (a Celery pool's or gunicorn's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in children.read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Whether a process of ours with this id still runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def skip_or_fail(reason: str) -> None:
    """Skip with the reason, or fail when CI=true: CI must run every test."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def start_redis(directory: Path, port: int | None = None,
                appendonly: bool = False) -> tuple[subprocess.Popen, str]:
    """A redis-server of this test's own on `port` or a spare one; (process, URL).

    No persistence unless `appendonly` (an append-only file in `directory`, written to disk at
    every write, as the region's broker needs: README, broker persistence row).
    Never the machine's shared Redis: a test that needs a broker it may fill or stop uses this.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed (apt-get install redis-server)")
    port = port or free_tcp_port()
    log_path = directory / f"redis-{port}.log"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes" if appendonly else "no", "--appendfsync", "always",
         "--dir", str(directory), "--logfile", str(log_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def answers() -> bool:
        assert process.poll() is None, "redis-server exited:\n" + _tail(log_path)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(answers, 15, lambda: "redis-server did not answer:\n" + _tail(log_path))
    return process, f"redis://127.0.0.1:{port}/0"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} missing)"
