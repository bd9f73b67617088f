"""The state of each boot service (DHCP, TFTP, HTTP boot), written for rackd to report.

bootsvc keeps serving what it can when one service cannot start (a port in use, no root for
port 69): this file is how that failure reaches the region's racks page instead of only a log
line. rackd reads it at each heartbeat.
"""
import json
import os
import threading
from pathlib import Path

SERVICES_NAME = "bootsvc-services.json"
SERVICES = ("dhcp", "tftp", "http")
RUNNING, OFF, FAILED, STARTING = "running", "off", "failed", "starting"
MAX_REASON = 500  # the region accepts 1,000 characters per reason


def services_path(rack_dir: Path) -> Path:
    """The services file bootsvc writes and rackd reads, in the rack's state dir."""
    return Path(rack_dir) / SERVICES_NAME


class ServiceStates:
    """{service: (state, reason)}, rewritten atomically whenever one changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._states = {name: (STARTING, "") for name in SERVICES}
        self._write()  # at once: a file left by an earlier run must not be reported as ours

    def set(self, name: str, state: str, reason: str = "") -> None:
        reason = reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"
        with self._lock:
            if self._states.get(name) == (state, reason):
                return
            self._states[name] = (state, reason)
        self._write()

    def get(self, name: str) -> tuple[str, str]:
        with self._lock:
            return self._states[name]

    def _write(self) -> None:
        with self._lock:
            text = json.dumps({name: {"state": state, "reason": reason}
                               for name, (state, reason) in self._states.items()})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.path)


def read_service_states(path: Path) -> dict[str, tuple[str, str]]:
    """{service: (state, reason)} from bootsvc's services file ({} if absent or unreadable)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    states = {}
    for name in SERVICES:
        entry = data.get(name)
        if isinstance(entry, dict) and isinstance(entry.get("state"), str):
            reason = entry.get("reason")
            states[name] = (entry["state"], reason if isinstance(reason, str) else "")
    return states
