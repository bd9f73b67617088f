"""A lab's state: its name prefix, paths and the JSON record `lab down` cleans up from.

Everything a lab creates is named after a prefix derived from its state directory, so `lab down`
finds leftovers by name even when the state file is partial or missing. The file is rewritten
(atomically) before each namespace is created and before and after each process is started.
"""
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

PREFIX_ROOT = "mlab"
# Every process a lab starts carries this variable (value: the state dir); children inherit it,
# so `lab down` finds them in /proc even when they were never recorded.
MARKER = "METAL_LAB_DIR"
STATE_FILE = "state.json"


def default_state_dir() -> Path:
    """$VAR_DIR/lab, else ./var/lab."""
    return Path(os.environ.get("VAR_DIR") or "var") / "lab"


def resolve(state_dir: str | Path) -> Path:
    return Path(os.path.realpath(state_dir))


def prefix_for(state_dir: str | Path) -> str:
    """mlab + 6 hex digits of the state dir's path: short enough for interface names."""
    return PREFIX_ROOT + hashlib.sha1(str(resolve(state_dir)).encode()).hexdigest()[:6]


def runtime_dir_for(prefix: str) -> Path:
    """Unix sockets (portal, QMP) live here: paths under the state dir may be too long."""
    return Path(tempfile.gettempdir()) / f"{prefix}.run"


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


class LabState:
    """The state file of one lab: namespaces, processes (pid, start time), VMs, racks."""

    def __init__(self, state_dir: str | Path):
        self.dir = resolve(state_dir)
        self.prefix = prefix_for(self.dir)
        self.runtime_dir = runtime_dir_for(self.prefix)
        self.path = self.dir / STATE_FILE
        self.data: dict = {"prefix": self.prefix, "state_dir": str(self.dir),
                           "runtime_dir": str(self.runtime_dir), "phase": "new",
                           "namespaces": [], "processes": [], "vms": [], "racks": []}

    @classmethod
    def load(cls, state_dir: str | Path) -> "LabState":
        """The recorded state; an empty one when the file is missing or unreadable."""
        state = cls(state_dir)
        try:
            recorded = json.loads(state.path.read_text())
        except (OSError, ValueError):
            return state
        if isinstance(recorded, dict):
            state.data.update(recorded)
        return state

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def vms_dir(self) -> Path:
        return self.dir / "vms"

    @property
    def racks_dir(self) -> Path:
        return self.dir / "racks"

    def exists(self) -> bool:
        return self.path.exists()

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)

    def set(self, **fields) -> None:
        self.data.update(fields)
        self.save()

    def add_namespace(self, ns: str) -> None:
        """Record ns before it is created."""
        self.data["namespaces"].append(ns)
        self.save()

    def add_process(self, name: str, argv: list[str], netns: str | None) -> dict:
        """Record a process about to start (pid unknown yet); returns its record."""
        record = {"name": name, "argv": argv, "netns": netns, "pid": None, "start_time": None,
                  "requested": time.time()}
        self.data["processes"].append(record)
        self.save()
        return record

    def started(self, record: dict, pid: int) -> None:
        record.update(pid=pid, start_time=process_start_time(pid))
        self.save()

    def live_processes(self) -> list[dict]:
        """Recorded processes still running (same pid and start time)."""
        return [p for p in self.data["processes"] if p.get("pid")
                and process_start_time(p["pid"]) == p.get("start_time")]

    def remove(self) -> None:
        for path in (self.path, self.path.with_name(STATE_FILE + ".tmp")):
            path.unlink(missing_ok=True)
