"""A rack worker of a test's own (python -m rack_worker), registered in the test database."""
import json
import subprocess
from pathlib import Path

from tests.factories import RackControllerFactory
from tests.processes import start
from zones.rackkeys import rack_power_key


def register_rack(name: str, folder: Path) -> Path:
    """A running rack in the database and the credentials file rackd would keep for it."""
    rack = RackControllerFactory(name=name, status="running")
    credentials = folder / f"credentials-{name}.json"
    credentials.write_text(json.dumps(
        {"power_key": rack_power_key(rack.system_id, rack.token_hash)}))
    return credentials


def start_rack_worker(name: str, credentials: Path, log: Path, **env: str) -> subprocess.Popen:
    """A rack worker on rack.<name>: one prefork process, so it runs one power job at a time."""
    return start(["-m", "rack_worker", "--name", name, "--concurrency", "1"], log,
                 RACK_CREDENTIALS=str(credentials), **env)
