"""A rack worker on a private broker with the fake power driver, and its fake BMCs' states."""
import json
import subprocess
from pathlib import Path

from tests.processes import start


def start_rack_worker(name: str, folder: Path, power_key: str, **extra: str) -> subprocess.Popen:
    """`python -m rack_worker --name NAME` holding `power_key` as rackd would after registering.

    Its fake BMCs keep their state in folder/bmc (one JSON file per fake_id); its log is
    folder/rack-NAME.log.
    """
    credentials = folder / f"rack-{name}-credentials.json"
    credentials.write_text(json.dumps({"power_key": power_key}))
    credentials.chmod(0o600)
    return start(["-m", "rack_worker", "--name", name, "--concurrency", "4"],
                 folder / f"rack-{name}.log", RACK_CREDENTIALS=str(credentials),
                 FAKE_POWER_STATE_DIR=str(folder / "bmc"), **extra)


def bmc_states(folder: Path) -> dict[str, dict]:
    """fake_id -> the fake BMC's state (power_state, calls: every operation it was asked)."""
    return {path.stem: json.loads(path.read_text())
            for path in sorted((folder / "bmc").glob("*.json")) if path.stat().st_size}
