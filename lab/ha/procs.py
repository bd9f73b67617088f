"""Process helpers for the HA pieces (lab/ha/cluster.py, sentinel.py, proxy.py, demo.py).

free_tcp_port, stop and wait_until are shared with the tests: tests/processes.py imports them
from here and re-exports them (lab/ code never imports tests/).
"""
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable


def unavailable(reason: str) -> None:
    """What a missing binary does outside the tests (they skip or fail instead)."""
    raise SystemExit(reason)


def binary(name: str, hint: str, missing: Callable[[str], None] = unavailable) -> str:
    """The path of `name`, or missing(why) when it is not installed."""
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed ({hint})")
    return found


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process group: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_until(check: Callable[[], object], timeout: float, describe: Callable[[], str]):
    """Poll `check` until it returns something truthy; AssertionError with describe() after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"Timed out after {timeout}s: {describe()}")
