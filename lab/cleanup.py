"""`lab down`: stop every process of a lab and delete its namespaces, links and files.

Works from whatever is left: recorded process groups (checked by start time, so a reused pid is
never hit), processes in the lab's namespaces, and any process whose environment carries the
lab's marker or whose command line mentions its state or runtime dir; then namespaces and
root-namespace links named with the lab's prefix. Idempotent: a second run finds nothing.
"""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lab import netns
from lab.state import MARKER, PREFIX_ROOT, LabState, runtime_dir_for

# Files a lab generates in its state dir; logs and consoles stay unless purged.
GENERATED = ("state.json", "state.json.tmp", "vbmc.json", "racks")


def _ancestors() -> set[int]:
    """This process and its ancestors: never killed (they may mention the state dir too)."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _read(pid: int, name: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _mentions(pid: int, dirs: list[str], marker: str | None) -> bool:
    """True if pid carries the marker (value `marker`, or any with None) or names one of dirs."""
    env = _read(pid, "environ")
    if any(item == f"{MARKER}={marker}" if marker else item.startswith(MARKER + "=")
           for item in env):
        return True
    return any(d == arg or d + "/" in arg for arg in _read(pid, "cmdline") for d in dirs)


def lab_pids(dirs: list[str], marker: str | None, prefix: str) -> set[int]:
    """Live processes of the lab: marked, mentioning its dirs, or inside its namespaces."""
    skip = _ancestors()
    found = {pid for ns in netns.namespaces(prefix) for pid in netns.namespace_pids(ns)}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in skip and _mentions(int(entry), dirs, marker):
            found.add(int(entry))
    return {pid for pid in found - skip if _alive(pid)}


def _alive(pid: int) -> bool:
    """Running (zombies count as gone: only their parent can reap them)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pids: set[int], groups: set[int], sig: int) -> None:
    for group in groups:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_processes(prefix: str, groups: set[int], marker: str | None, dirs: list[str],
                   grace: float = 10.0) -> int:
    """SIGTERM the lab's processes and groups, SIGKILL what is left after `grace`."""
    pids = lab_pids(dirs, marker, prefix) | groups
    total = len(pids)
    _signal(pids, groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = {pid for pid in pids if _alive(pid)} | lab_pids(dirs, marker, prefix)
    for _ in range(3):  # new children may appear while their parents die
        if not pids:
            break
        _signal(pids, groups, signal.SIGKILL)
        time.sleep(0.3)
        pids = {pid for pid in pids if _alive(pid)} | lab_pids(dirs, marker, prefix)
    return total


def delete_network(prefix: str, recorded: list[str] = ()) -> list[str]:
    """Delete the namespaces (with every interface in them) and root links named prefix*."""
    names = sorted(set(netns.namespaces(prefix)) | {ns for ns in recorded
                                                    if ns.startswith(prefix)})
    for ns in names:
        netns.delete_namespace(ns)
    for link in netns.links(prefix):
        subprocess.run(["ip", "link", "delete", link], capture_output=True)
    return names


def delete_files(state: LabState, purge: bool) -> None:
    shutil.rmtree(state.runtime_dir, ignore_errors=True)
    for name in GENERATED:
        path = state.dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for disk in state.vms_dir.glob("*/disk.img"):
        disk.unlink(missing_ok=True)
    if purge:
        shutil.rmtree(state.logs_dir, ignore_errors=True)
        shutil.rmtree(state.vms_dir, ignore_errors=True)
        try:
            state.dir.rmdir()
        except OSError:
            pass  # not empty: something that is not ours lives there


def down(state_dir: str | Path, purge: bool = False) -> dict:
    """Tear the lab down; returns what was found (processes stopped, namespaces deleted)."""
    state = LabState.load(state_dir)
    dirs = [str(state.dir), str(state.runtime_dir)]
    groups = {p["pid"] for p in state.live_processes()}
    stopped = stop_processes(state.prefix, groups, str(state.dir), dirs)
    deleted = delete_network(state.prefix, state.data.get("namespaces", []))
    delete_files(state, purge)
    return {"processes": stopped, "namespaces": deleted}


def down_all() -> dict:
    """Tear down every lab on this machine (anything named mlab*, any marked process)."""
    dirs = [str(path) for path in runtime_dir_for(PREFIX_ROOT).parent.glob(PREFIX_ROOT + "*.run")]
    stopped = stop_processes(PREFIX_ROOT, set(), None, dirs)
    deleted = delete_network(PREFIX_ROOT)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)
    return {"processes": stopped, "namespaces": deleted}


def leftovers(state_dir: str | Path) -> dict:
    """What of the lab still exists: namespaces, root links, processes (empty when clean)."""
    state = LabState(state_dir)
    dirs = [str(state.dir), str(state.runtime_dir)]
    return {"namespaces": netns.namespaces(state.prefix), "links": netns.links(state.prefix),
            "processes": sorted(lab_pids(dirs, str(state.dir), state.prefix)),
            "runtime_dir": state.runtime_dir.exists()}
