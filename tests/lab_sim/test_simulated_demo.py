"""`make demo SIMULATED=1` end to end: the demo as a real process, checked through the REST API.

The command is the one `make -n demo SIMULATED=1` prints (the Makefile's own recipe), run with
the zero-configuration defaults a newcomer gets: SQLite and the filesystem broker in a fresh
VAR_DIR (so nothing here touches the machine's PostgreSQL or Redis), no qemu, no root. The
machines enlist by themselves, commission to Ready, deploy, release (one with erase); a job
still running at Ctrl-C is aborted, and everything stops.
"""
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from lab.api import Api, api_key_from
from tests.processes import PROJECT_DIR, free_tcp_port, skip_or_fail, wait_until

pytestmark = pytest.mark.integration
MACS = ("02:5a:00:00:00:01", "02:5a:00:00:00:02")
START_TIMEOUT = 420  # region, rack and simulator start, enlistment and commissioning
STEP_TIMEOUT = 180


def demo_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (
        "DATABASE_URL", "CELERY_BROKER_URL", "CELERY_BROKER_DIR", "DJANGO_SETTINGS_MODULE",
        "FAKE_POWER_STATE_DIR", "METADATA_TOKEN_SOURCES")}
    return {**env, "VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"}


def run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def make_admin(env: dict[str, str], var_dir: Path) -> None:
    """What `make demo`'s `admin` prerequisite does (not through make: it would pip install)."""
    python = str(PROJECT_DIR / ".venv" / "bin" / "python")
    run([python, "manage.py", "migrate", "--noinput"], env)
    created = run([python, "manage.py", "createadmin", "--username", "admin"], env)
    key = run([python, "manage.py", "apikey", "--username", "admin"], env).splitlines()[-1]
    (var_dir / "admin-credentials").write_text(f"{created}\nAPI key: {key}\n")


def demo_command(port: int, env: dict[str, str]) -> str:
    """The Makefile's demo recipe for SIMULATED=1 (make -n prints it without running it)."""
    text = run(["make", "-n", "-s", "demo", "SIMULATED=1", f"PORT={port}", "DEMO_VMS=2",
                "WEB_WORKERS=2"], env).replace("\\\n", " ")
    command = next(line for line in text.splitlines() if "-m lab.demo" in line)
    assert "--simulated" in command, command
    return command


def machine(api: Api, mac: str) -> dict | None:
    found = api.items(f"machines/?mac_address={mac}")
    return found[0] if found else None


def events(api: Api, system_id: str) -> list[dict]:
    return api.items(f"events/?machine={system_id}&limit=1000")


def wait_status(api: Api, system_id: str, status: str, describe) -> dict:
    return wait_until(lambda: (m := api.get(f"machines/{system_id}/"))["status_name"] == status
                      and m, STEP_TIMEOUT, describe)


@pytest.fixture
def demo(tmp_path):
    """The simulated demo running on a free port; (api, output file, process, describe)."""
    if shutil.which("make") is None:
        skip_or_fail("make is not installed")
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = demo_env(var_dir)
    make_admin(env, var_dir)
    port = free_tcp_port()
    output = tmp_path / "demo.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", demo_command(port, env)], cwd=PROJECT_DIR,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    describe = lambda: output.read_text()[-3000:] + "".join(  # noqa: E731
        f"\n--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
        for log in sorted((var_dir / "logs").glob("*.log")))
    try:
        wait_until(lambda: "Try:" in output.read_text() or proc.poll() is not None,
                   START_TIMEOUT, describe)
        assert proc.poll() is None, describe()
        yield Api(f"http://127.0.0.1:{port}", api_key_from(var_dir / "admin-credentials")), \
            output, proc, describe
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: make's whole foreground group
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise


def test_simulated_machines_enlist_commission_deploy_and_release(demo):
    api, output, proc, describe = demo
    machines = [machine(api, mac) for mac in MACS]
    assert all(machines), describe()  # they enlisted: nobody created them
    first, second = (m["system_id"] for m in machines)
    for found in machines:
        assert (found["status_name"], found["power_type"], found["power_state"]) == \
            ("Ready", "fake", "off"), found
        timeline = events(api, found["system_id"])
        types = {event["type"] for event in timeline}
        # The power off that ends it is the machine's own (runner.sh's poweroff -f): the
        # region may not know the BMC yet, enlistment does not tell it.
        assert {"enlisted", "commission", "status_succeeded"} <= types, types
        assert "power_warning" not in types  # the simulator is attached to every fake BMC
        assert any(e["description"] == "Commissioning → Ready" for e in timeline)
        assert api.get(f"machines/{found['system_id']}/")["cpu_count"] == 8  # inventory ran

    for system_id in (first, second):
        api.post(f"machines/{system_id}/deploy/")
    for system_id in (first, second):
        assert wait_status(api, system_id, "Deployed", describe)["osystem"] == "simulated"
        # The power on's result may be recorded after the deployed OS reported in.
        wait_until(lambda s=system_id: api.get(f"machines/{s}/")["power_state"] == "on",
                   STEP_TIMEOUT, describe)
        timeline = events(api, system_id)
        types = {event["type"] for event in timeline}
        assert {"deploy_image_written", "deployed"} <= types, types
        assert any(e["type"] == "power_on" and "via sim-rack" in e["description"]
                   for e in timeline), timeline  # through the rack to the fake BMC

    api.post(f"machines/{first}/release/", {"erase": True, "erase_mode": "quick"})
    api.post(f"machines/{second}/release/")
    for system_id in (first, second):
        released = wait_status(api, system_id, "Ready", describe)
        assert released["owner"] is None
        wait_until(lambda s=system_id: api.get(f"machines/{s}/")["power_state"] == "off",
                   STEP_TIMEOUT, describe)
    erased = [e for e in events(api, first) if e["type"] == "erase_report"]
    assert len(erased) == 1 and erased[0]["description"].startswith(
        "Disk erasing passed: 2 disk(s) erased and verified"), erased
    assert not [e for e in events(api, second) if e["type"] == "erase_report"]

    # A job still running at Ctrl-C is aborted: a BMC slow to power on keeps it Deploying.
    api.patch(f"machines/{second}/", {"power_type": "fake", "power_parameters": {
        "fake_id": "sim-02", "delay": 45000}})
    api.post(f"machines/{second}/deploy/")
    assert api.get(f"machines/{second}/")["status_name"] == "Deploying"
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=180) == 0, describe()
    text = output.read_text()
    assert f"Aborted the jobs of {second}." in text, text[-2000:]
    with pytest.raises(OSError):  # the region is gone with the rest
        api.get("machines/")
