"""The fake driver tells when no simulator (python -m lab.sim) runs the machine it powers on."""
import json
import subprocess
import sys

import pytest

from power.drivers.fake import FakeDriver
from tests.processes import PROJECT_DIR, stop, wait_until


def power_on(fake_id: str, **boot) -> list[str]:
    driver = FakeDriver({"fake_id": fake_id})
    driver.power_on(**boot)
    return driver.notes


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    folder = tmp_path / "fake-power"
    monkeypatch.setenv("FAKE_POWER_STATE_DIR", str(folder))
    return folder


def start_simulator(tmp_path, state_dir, log_name: str = "sim.log") -> subprocess.Popen:
    """A real simulator attached to state_dir for sim-01 (its region is never called here:
    nothing netboots)."""
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"system_id": "r", "token": "t"}))
    log = tmp_path / log_name
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lab.sim", "--region", "http://127.0.0.1:9/",
             "--power-dir", str(state_dir), "--count", "1", "--rack-credentials",
             str(credentials)], cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    wait_until(lambda: "watching" in log.read_text() or proc.poll() is not None, 60,
               log.read_text)
    return proc


def test_power_on_with_no_simulator_says_the_machine_will_not_boot(state_dir):
    notes = power_on("m1", netboot=True)
    assert len(notes) == 1
    assert notes[0].startswith(f"no simulator is attached to this fake BMC ({state_dir}): "
                               "the machine will not boot; run `make demo SIMULATED=1`")
    assert "python -m lab.sim" in notes[0]


def test_a_running_simulator_silences_it_for_its_machines_only(tmp_path, state_dir):
    simulator = start_simulator(tmp_path, state_dir)
    try:
        assert simulator.poll() is None, (tmp_path / "sim.log").read_text()
        assert power_on("sim-01") == []  # boots from disk: nothing asks the region
        notes = power_on("other")
        assert notes == [f"the simulator attached to {state_dir} does not simulate fake id "
                         "'other': the machine will not boot; run `make demo SIMULATED=1`, "
                         "or attach a simulator with `python -m lab.sim` (see README \"Try it "
                         "without hardware\")"]
        second = start_simulator(tmp_path, state_dir, "second.log")
        assert second.wait(timeout=30) != 0  # one simulator per state directory
        assert "another simulator is attached" in (tmp_path / "second.log").read_text()
    finally:
        stop(simulator)
    notes = power_on("sim-01")
    assert len(notes) == 1 and "its last one stopped" in notes[0], notes


def test_in_memory_fake_machines_have_no_simulator_to_miss(monkeypatch):
    monkeypatch.delenv("FAKE_POWER_STATE_DIR", raising=False)
    assert power_on("m1", netboot=True) == []
