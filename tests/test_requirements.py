"""requirements.txt alone runs every production process: a fresh venv starts them on Redis.

The dev requirements install more than the runtime needs, so a missing runtime dependency
(kombu's Redis transport needs `packaging`) only shows in a virtualenv built from
requirements.txt and nothing else. It is cached under var/test-venvs/, keyed by the hash of
requirements.txt and the Python version: CI builds it once, later runs reuse it.
"""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from tests.processes import PROJECT_DIR, skip_or_fail, start_redis, stop, wait_until

REQUIREMENTS = PROJECT_DIR / "requirements.txt"
TIMEOUT = 60
# Every runtime package of the project: each module must import in the fresh venv.
IMPORT_ALL = """
import importlib, os, pkgutil
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maasproject.settings")
import django
django.setup()
for top in ("maasproject", "nodes", "zones", "power", "bootsvc", "rack_worker", "lab"):
    for info in pkgutil.walk_packages(importlib.import_module(top).__path__, top + "."):
        importlib.import_module(info.name)
print("imported everything")
"""


def requirements_venv() -> Path:
    """A venv with requirements.txt only, built once per requirements hash and Python version."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]
    root = Path(settings.VAR_DIR) / "test-venvs"
    venv = root / f"requirements-{digest}"
    if (venv / ".complete").exists():
        return venv
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("requirements-*"):
        shutil.rmtree(old, ignore_errors=True)  # other hashes, or a build that broke off
    building = root / f"building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    pip = subprocess.run(
        [str(building / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        capture_output=True, text=True, timeout=600,
    )
    if pip.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        skip_or_fail(f"pip could not install requirements.txt:\n{pip.stdout}\n{pip.stderr}")
    (building / ".complete").touch()
    building.rename(venv)  # its scripts now name a wrong path: everything runs as python -m
    return venv


def clean_env(var_dir: Path, broker_url: str) -> dict[str, str]:
    """Only what a production process gets: no test settings, no database URL, Redis broker."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "VAR_DIR": str(var_dir),
        "CELERY_BROKER_URL": broker_url,
        "POWER_POLL_TICK": "1",  # beat sends its first task within seconds
    }


def launch(python: Path, args: list[str], log_path: Path, env: dict) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen([str(python), *args], cwd=PROJECT_DIR, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def log_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.mark.integration
def test_requirements_alone_run_worker_beat_and_rack_worker_on_redis(tmp_path, monkeypatch):
    # Celery prefers $CELERY_BROKER_URL (set under CI) to the broker an app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    python = requirements_venv() / "bin" / "python"
    redis, broker_url = start_redis(tmp_path)
    env = clean_env(tmp_path / "var", broker_url)
    processes: dict[str, subprocess.Popen] = {}
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat", "rack")}

    def describe() -> str:
        return "\n".join(f"--- {name} (exit {processes[name].poll()}):\n{log_of(path)[-3000:]}"
                         for name, path in logs.items() if name in processes)

    try:
        imported = subprocess.run([str(python), "-c", IMPORT_ALL], cwd=PROJECT_DIR, env=env,
                                  capture_output=True, text=True, timeout=120)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        migrated = subprocess.run([str(python), "manage.py", "migrate", "--noinput", "-v", "0"],
                                  cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                                  timeout=120)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        host = socket.gethostname()
        processes["worker"] = launch(python, [
            "-m", "celery", "-A", "maasproject", "worker", "-Q", "region", "--pool", "solo",
            "-l", "info", "--without-mingle", "--without-gossip", "--hostname", "region@%h",
        ], logs["worker"], env)
        processes["rack"] = launch(python, [
            "-m", "rack_worker", "--name", "reqs", "--pool", "solo", "--concurrency", "1",
        ], logs["rack"], env)
        processes["beat"] = launch(python, [
            "-m", "celery", "-A", "maasproject", "beat", "-l", "info",
            "-s", str(tmp_path / "var" / "beat-schedule"),
        ], logs["beat"], env)

        def alive() -> None:
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited:\n{describe()}"

        # Both workers are connected to Redis and answer a broadcast ping.
        control = Celery(broker=broker_url, set_as_current=False)
        try:
            def pinged() -> bool:
                alive()
                answers = {name for reply in control.control.ping(timeout=1) for name in reply}
                return {f"region@{host}", f"reqs@{host}"} <= answers
            wait_until(pinged, TIMEOUT, describe)
        finally:
            control.close()
        # Beat publishes its schedule through Redis and the region worker runs it.
        wait_until(lambda: alive() or "beat: Starting" in log_of(logs["beat"]), TIMEOUT, describe)
        wait_until(lambda: alive() or "Sending due task" in log_of(logs["beat"]), TIMEOUT,
                   describe)
        wait_until(lambda: alive() or "nodes.tasks.poll_power_states" in log_of(logs["worker"])
                   and "succeeded" in log_of(logs["worker"]), TIMEOUT, describe)
        for path in logs.values():
            assert "ModuleNotFoundError" not in log_of(path), describe()
    finally:
        for process in processes.values():
            stop(process)
        stop(redis)
