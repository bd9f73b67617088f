"""Lab racks: `python -m rack_worker.rackd` in a namespace of its own, on the lab bridge."""
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass
class Rack:
    """One rack: its namespace, address on the lab network and VAR_DIR."""

    name: str
    netns: str
    address: str
    var_dir: str
    log: str  # rackd's output, its children's (worker, bootsvc, imagecache) included

    @property
    def credentials_file(self) -> Path:
        """Where rackd keeps the token it registered with (rack_worker.rackd)."""
        return Path(self.var_dir) / "rack" / "credentials.json"

    @property
    def cache_dir(self) -> Path:
        """The image cache bootsvc serves from."""
        return Path(self.var_dir) / "rack" / "cache"

    def credentials(self) -> dict | None:
        try:
            return json.loads(self.credentials_file.read_text())
        except (OSError, ValueError):
            return None

    def rackd_argv(self, region_url: str) -> list[str]:
        # Two worker processes: the lab shares two CPU cores with everything else.
        return [sys.executable, "-m", "rack_worker.rackd", "--region-url", region_url,
                "--name", self.name, "--worker-concurrency", "2"]

    def sync_images(self, region_url: str, env: dict, timeout: float = 120):
        """Run one image-cache sync now (rackd's own loop waits a minute between syncs)."""
        argv = [sys.executable, "-m", "rack_worker.imagecache", "--once", "--region-url",
                region_url, "--credentials", str(self.credentials_file),
                "--cache-dir", str(self.cache_dir)]
        return subprocess.run(["ip", "netns", "exec", self.netns, *argv], cwd=PROJECT_DIR,
                              env={**env, "VAR_DIR": self.var_dir}, capture_output=True,
                              text=True, timeout=timeout)

    def to_dict(self) -> dict:
        return asdict(self)
