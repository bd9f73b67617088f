"""Phases of one machine's Debian deploy, cut from its boot timeline (pure functions).

The timeline is the machine's Events, oldest first (`GET /api/v1/events/?machine=`). From the
deploy action's Event, each milestone of MILESTONES is the first later Event that matches it,
after the previous milestone; the interval ending there goes to one phase and is, or is not,
"ours". A milestone missing from a timeline (e.g. an event type a firmware does not produce)
is skipped: its interval joins the next milestone's, with that one's phase, and is ours only
if both were.

Ours (the flag, and runner_reports): the region, Celery, the rack and the runner's own extra
steps, never the guest's firmware and kernels, the image's write or cloud-init's own work; the
intervals are listed in bench/debian_deploy_bench.py's docstring.
"""
import re
from dataclasses import dataclass, field
from statistics import median

from bench.lifecycle_bench import is_type, when

NETBOOT, PASS1, WRITE, FIRST_BOOT, CLOUD_INIT = (
    "netboot", "pass 1: download + sha256", "pass 2: write", "first boot", "cloud-init")
PHASES = (NETBOOT, PASS1, WRITE, FIRST_BOOT, CLOUD_INIT)
ACTION = "deploy"  # the action's Event (apply_action), recorded when the request is taken
# A file served whole: "HTTP GET <path> (<n> bytes) (rack <name>)"; transfers that broke off
# ("aborted after ...") or failed ("404 Not Found") are retried and are not milestones.
_SERVED = re.compile(r"^HTTP GET (\S+) \(\d+ bytes\)")
_RUNTIME = re.compile(r" in ([0-9.]+) s$")  # script_finished: the runner's own runtime
# The final stage's own finish ("... modules-final SUCCESS: ..."), not one of its modules'
# ("... modules-final/config-scripts-user WARN: ...").
_FINAL = re.compile(r"^cloud-init finish modules-final[ :]")
IMAGE = "images/deployable/"


def served(*parts: str):
    """A matcher: an http_file Event of a whole file whose path contains every part."""
    def matches(event: dict) -> bool:
        found = event["type"] == "http_file" and _SERVED.match(event["description"])
        return bool(found) and all(part in found.group(1) for part in parts)
    return matches


# (name, matcher, phase of the interval ending there, whether that interval is ours)
MILESTONES = [
    ("power on done", is_type("power_on", "power_cycle"), NETBOOT, True),
    # Firmware: POST, PXE DHCP, the loader over TFTP, its config asked for: the decision.
    ("deploy boot decision", is_type("boot_decision", text=": deploy"), NETBOOT, False),
    ("ephemeral initrd served", served("images/ephemeral/", "initrd"), NETBOOT, False),
    ("ephemeral DHCP", is_type("dhcp_discover"), NETBOOT, False),
    ("write-image started", is_type("script_started"), NETBOOT, True),
    # Pass 1 ends when the rack's HTTP server has sent the image and the client acknowledged it.
    ("pass 1 served", served(IMAGE), PASS1, True),
    # Pass 2: cloud-config/, the download through zstd and tar onto the new file systems.
    ("pass 2 served", served(IMAGE), WRITE, False),
    # The rest of install_root.sh (GRUB, checks, sync), then the runner's uploads (ours: moved
    # by runner_reports).
    ("write-image finished", is_type("script_finished"), WRITE, False),
    ("image written reported", is_type("deploy_image_written"), WRITE, True),
    # reboot -f, the firmware and its netboot again, told "boot local".
    ("local boot decision", is_type("boot_decision", text=": local"), FIRST_BOOT, False),
    # GRUB from the disk, Debian's kernel, initramfs and systemd up to cloud-init's first report.
    ("first cloud-init event", is_type("cloudinit"), FIRST_BOOT, False),
    ("modules-final finished", lambda e: e["type"] == "cloudinit"
     and bool(_FINAL.match(e["description"])), CLOUD_INIT, False),
    ("Deployed", is_type("status_succeeded"), CLOUD_INIT, True),
]


@dataclass
class DeployTiming:
    """One machine's deploy: wall seconds (action → Deployed), seconds by phase and ours."""

    wall: float
    phases: dict[str, float]
    ours: float
    missing: list[str] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)  # milestone → index in the events


def since(events: list[dict], start: float) -> list[dict]:
    """The Events from `start` (epoch seconds) on, oldest first."""
    return [e for e in events if when(e) >= start]


def find_marks(events: list[dict]) -> tuple[int, dict[str, int]]:
    """The deploy action's index and each milestone found after it (name → index)."""
    start = next(i for i, e in enumerate(events) if e["type"] == ACTION)
    marks, index = {}, start
    for name, matches, _, _ in MILESTONES:
        found = next((i for i in range(index + 1, len(events)) if matches(events[i])), None)
        if found is not None:
            marks[name], index = found, found
    return start, marks


def runner_reports(events: list[dict], marks: dict[str, int]) -> float:
    """The runner's output uploads and results/finish/ in seconds (0 when not known)."""
    # From the runner's end (its start + the runtime it reports) to the script_finished Event.
    if "write-image started" not in marks or "write-image finished" not in marks:
        return 0.0
    started = events[marks["write-image started"]]
    finished = events[marks["write-image finished"]]
    runtime = _RUNTIME.search(finished["description"].split("\n", 1)[0])
    if runtime is None:
        return 0.0
    # The guest's clock measures the runtime; never more than the interval it sits in.
    previous = max((i for i in marks.values() if i < marks["write-image finished"]), default=0)
    slack = when(finished) - when(started) - float(runtime.group(1))
    return min(max(slack, 0.0), when(finished) - when(events[previous]))


def deploy_timing(events: list[dict], start: float) -> DeployTiming:
    """Cut one machine's timeline (all its Events) from `start` at the milestones."""
    events = since(events, start)
    first, marks = find_marks(events)
    phases, ours, previous = dict.fromkeys(PHASES, 0.0), 0.0, when(events[first])
    known = True  # the interval so far is ours: every milestone it spans says so
    for name, _, phase, counted in MILESTONES:
        known = known and counted
        if name not in marks:
            continue
        seconds = when(events[marks[name]]) - previous
        phases[phase] += seconds
        ours += seconds if known else 0.0
        previous, known = when(events[marks[name]]), True
    ours += runner_reports(events, marks)
    missing = [name for name, *_ in MILESTONES if name not in marks]
    return DeployTiming(wall=previous - when(events[first]), phases=phases, ours=ours,
                        missing=missing, marks=marks)


def spread(values: list[float]) -> tuple[float, float]:
    """(median, max) of some seconds."""
    return (median(values), max(values)) if values else (0.0, 0.0)


def summary(timings: list[DeployTiming]) -> list[tuple[str, float, float, float]]:
    """Rows (what, median s, max s, share of the summed walls): the wall, each phase, ours."""
    total = sum(t.wall for t in timings) or 1e-9
    rows = [("deploy → Deployed", *spread([t.wall for t in timings]), 1.0)]
    for phase in PHASES:
        seconds = [t.phases[phase] for t in timings]
        rows.append((phase, *spread(seconds), sum(seconds) / total))
    ours = [t.ours for t in timings]
    rows.append(("our share", *spread(ours), sum(ours) / total))
    return rows
