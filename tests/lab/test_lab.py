"""The lab's cleanup guarantee: after `lab down`, or after a test using the fixture fails, no
namespace, link or process of the lab is left, even when the process that built it was killed.

Leftovers are looked for independently of lab.cleanup: `ip netns list`, `ip link` and /proc.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.state import MARKER, LabState, prefix_for, runtime_dir_for
from lab.vm import VM
from tests.processes import PROJECT_DIR, free_tcp_port, wait_until

INNER_TESTS = {
    # The lab fixture, as tests/lab uses it.
    "conftest.py": "from tests.lab.conftest import lab, lab_module  # noqa: F401\n",
    # A test that fails midway, with its VM running.
    "test_inner_fails.py": '''
import pytest

pytestmark = pytest.mark.lab(vms=1, racks=1, memory=384)


@pytest.mark.django_db(transaction=True)
def test_fails_midway(lab):
    vm = lab.vms[0]
    vm.power_on(netboot=True)
    vm.wait_for_console("iPXE", timeout=60)
    assert vm.running()
    assert False, "failing on purpose, midway"
''',
    # The fixture itself fails midway: network, portal, BMCs and region up, then a failure.
    "test_inner_setup_fails.py": '''
import pytest

from lab.core import Lab

pytestmark = pytest.mark.lab(vms=1, racks=1, memory=384)


@pytest.fixture(scope="module", autouse=True)
def broken_region():
    original = Lab.start_region

    def start_region(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise RuntimeError("region failed on purpose")

    Lab.start_region = start_region
    yield
    Lab.start_region = original


@pytest.mark.django_db(transaction=True)
def test_never_runs(lab):
    pass
''',
}


def remnants(state_dir: Path) -> dict:
    """What exists of the lab in state_dir: namespaces, root links, processes."""
    prefix = prefix_for(state_dir)
    needles = [str(Path(os.path.realpath(state_dir))), str(runtime_dir_for(prefix)), prefix]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    processes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{entry}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles) or f"{MARKER}={needles[0]}\0" in environ:
            processes.append(f"{entry}: {cmdline[:200]}")
    return {"namespaces": [line for line in namespaces.splitlines() if prefix in line],
            "links": [line for line in links.splitlines() if prefix in line],
            "processes": processes, "runtime_dir": runtime_dir_for(prefix).exists()}


def assert_clean(state_dir: Path) -> None:
    left = remnants(state_dir)
    assert left == {"namespaces": [], "links": [], "processes": [], "runtime_dir": False}, left


def lab_command(*args: str, state_dir: Path) -> list[str]:
    return [sys.executable, "-m", "lab", *args, "--state-dir", str(state_dir)]


def up_args(state_dir: Path) -> list[str]:
    """One VM and one rack; the region port has no region behind it (nothing to register)."""
    return lab_command("up", "--vms", "1", "--racks", "1", "--memory", "384",
                       "--rack-secret", "unused", "--region-port", str(free_tcp_port()),
                       state_dir=state_dir)


def lab_down(state_dir: Path) -> str:
    down = subprocess.run(lab_command("down", state_dir=state_dir), cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    return down.stdout


def start_vm(state_dir: Path) -> VM:
    """Power the lab's first VM on through its BMC; return it once qemu runs."""
    vm = VM(**LabState.load(state_dir).data["vms"][0])
    assert vm.power_on(netboot=True) == {"before": "off", "after": "on"}
    vm.wait_for_console("iPXE", timeout=60)
    return vm


@pytest.mark.integration
def test_up_then_down_leaves_nothing(lab_available, tmp_path):
    state_dir = tmp_path / "lab"
    up = subprocess.run([*up_args(state_dir), "--detach"], cwd=PROJECT_DIR,
                        capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    for text in ("52:54:00:99:00:01", "BMC ipmi 10.99.0.50:623 user admin password password",
                 f"console {state_dir}/vms/vm1/console.log", "http://10.99.0.1:5240/"):
        assert text in up.stdout, up.stdout
    again = subprocess.run([*up_args(state_dir), "--detach"], cwd=PROJECT_DIR,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "already up" in again.stderr, again.stderr
    vm = start_vm(state_dir)
    status = subprocess.run(lab_command("status", "--json", state_dir=state_dir),
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert json.loads(status.stdout)["vms"] == {vm.name: "on"}
    left = remnants(state_dir)
    assert len(left["namespaces"]) == 2 and len(left["processes"]) >= 5, left

    assert "deleted namespaces" in lab_down(state_dir)
    assert_clean(state_dir)
    assert "stopped 0 processes" in lab_down(state_dir)  # idempotent
    assert_clean(state_dir)


@pytest.mark.integration
@pytest.mark.parametrize("when", ["vm running", "during startup", "state file lost"])
def test_down_cleans_a_lab_whose_owner_was_killed(lab_available, tmp_path, when):
    state_dir = tmp_path / "lab"
    output = tmp_path / "up.out"
    with open(output, "wb") as out:
        owner = subprocess.Popen(up_args(state_dir), cwd=PROJECT_DIR, stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        if when == "during startup":  # right after the BMCs started, before the racks
            wait_until(lambda: any(p["name"] == "vbmc" and p["pid"] for p in
                                   LabState.load(state_dir).data["processes"]), 60,
                       lambda: "no vbmc in the state file")
        else:
            wait_until(lambda: "Lab is up" in output.read_text(), 60, output.read_text)
            start_vm(state_dir)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        time.sleep(0.5)
        assert remnants(state_dir)["namespaces"], "the killed lab should have left its network"
        if when == "state file lost":  # down falls back on names, namespaces and /proc
            (state_dir / "state.json").unlink()
    finally:
        owner.kill()
        owner.wait()
    lab_down(state_dir)
    assert_clean(state_dir)


def inner_database_url(tmp_path: Path) -> str:
    """The outer session's database with _inner appended (PostgreSQL), else a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return url.rstrip("/") + "_inner"
    return f"sqlite:///{tmp_path / 'inner.sqlite3'}"


@pytest.mark.integration
def test_a_failing_test_using_the_fixture_leaves_nothing(lab_available, tmp_path):
    tests, basetemp = tmp_path / "inner", tmp_path / "basetemp"
    tests.mkdir()
    for name, source in INNER_TESTS.items():
        (tests / name).write_text(source)
    env = {**os.environ, "CI": "true", "DATABASE_URL": inner_database_url(tmp_path),
           "VAR_DIR": str(tmp_path / "var")}
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", str(tests), "-p", "no:cacheprovider",
         "--rootdir", str(PROJECT_DIR), "-c",
         str(PROJECT_DIR / "pyproject.toml"), "--basetemp", str(basetemp), "--create-db", "-q"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)
    output = inner.stdout + inner.stderr
    assert inner.returncode == 1, output
    assert "1 failed" in output and "1 error" in output, output
    assert "failing on purpose, midway" in output and "region failed on purpose" in output, output
    state_dirs = sorted(basetemp.glob("lab[0-9]*"))
    assert len(state_dirs) == 2, state_dirs
    for state_dir in state_dirs:
        assert (state_dir / "logs" / "region-web.log").exists()  # the region had started
        assert_clean(state_dir)
