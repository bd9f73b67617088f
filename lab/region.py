"""The region's processes for a lab, in the root namespace on 127.0.0.1 (as `make run` runs them).

The lab reaches them only through the portal; gunicorn reads the portal's PROXY protocol line,
so the region sees (and logs) the lab client's own address.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def rack_secret(project_dir) -> str:
    """The region's rack secret, from `manage.py rack_secret` (generated on first use)."""
    result = subprocess.run([sys.executable, "manage.py", "rack_secret"], cwd=project_dir,
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"manage.py rack_secret failed (pass --rack-secret):\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def web_argv(port: int, access_log: str, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "maasproject.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--threads", "8", "--proxy-protocol", "v1",
            "--access-logfile", access_log]


def worker_argv(name: str, pool: str = "solo", concurrency: int = 1) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "maasproject", "worker", "-Q", "region",
            "--pool", pool, "-c", str(concurrency), "-l", "info", "--without-mingle",
            "--without-gossip", "--hostname", f"{name}-{os.getpid()}@%h"]


def beat_argv() -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "maasproject", "beat", "-l", "info"]


def wait_for_web(port: int, timeout: float = 60, alive=lambda: True) -> None:
    """Wait until the web server answers HTTP (any status) on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/", timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # 401/403: it answers
        except OSError:
            if not alive():
                raise RuntimeError("the region web server exited") from None
            time.sleep(0.3)
    raise TimeoutError(f"the region web server did not answer on 127.0.0.1:{port}")


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to a process group's leader (it stops its own children cleanly), then SIGKILL to
    whatever is left of its group (started with start_new_session)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
