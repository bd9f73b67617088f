"""A rack worker of a test's own (python -m rack_worker) with the fake power driver, the
credentials rackd would keep for it, and its fake BMCs' states."""
import json
import subprocess
from pathlib import Path

from tests.factories import RackControllerFactory
from tests.processes import start
from zones.rackkeys import rack_power_key


def register_rack(name: str, folder: Path) -> Path:
    """A running rack in the database and the credentials file rackd would keep for it."""
    rack = RackControllerFactory(name=name, status="running")
    return write_credentials(folder / f"credentials-{name}.json",
                             rack_power_key(rack.system_id, rack.token_hash))


def write_credentials(path: Path, power_key: str) -> Path:
    """The rack's 0600 credentials file holding `power_key`, as rackd writes it."""
    path.write_text(json.dumps({"power_key": power_key}))
    path.chmod(0o600)
    return path


def start_rack_worker(name: str, credentials: Path, log: Path, concurrency: int = 1,
                      **env: str) -> subprocess.Popen:
    """A rack worker on rack.<name> (one pool process by default: one power job at a time)."""
    return start(["-m", "rack_worker", "--name", name, "--concurrency", str(concurrency)], log,
                 RACK_CREDENTIALS=str(credentials), **env)


def bmc_states(folder: Path) -> dict[str, dict]:
    """fake_id -> the fake BMC's state (power_state, calls: every operation it was asked),
    for a rack worker whose FAKE_POWER_STATE_DIR is folder/bmc."""
    return {path.stem: json.loads(path.read_text())
            for path in sorted((folder / "bmc").glob("*.json")) if path.stat().st_size}
