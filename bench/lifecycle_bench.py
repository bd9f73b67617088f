"""Benchmark: the whole lab cycle of real qemu VMs, commission → deploy → Deployed → release with
erase → Ready, for one VM and then for N VMs at once, with the share of each phase read from
the machines' boot timelines.

Everything runs as in `make demo` (lab/demo.py): a fresh PostgreSQL database, the region's
processes (gunicorn, a region Celery worker, beat) on 127.0.0.1, and `Lab(...)` with N VMs (qemu
TCG, 512 MiB, 4 GiB sparse disk, virtual IPMI BMCs) and one rack (rackd: worker, bootsvc, image
cache) in network namespaces. The ephemeral image (cloud kernel) and the test OS are built (or
reused from the .deb cache) and registered, the rack syncs them. Through the REST API with an
admin key: the lab's VLAN with DHCP on the rack and a dynamic range, the VMs as machines with
IPMI power at their BMCs; then, per run, commission every machine, wait until all are Ready and
powered off, deploy them all (user data writes a marker), wait for Deployed, release them all
with erase, wait for Ready and powered off. Statuses are polled once a second.

Per machine and stage, the boot timeline (`GET /api/v1/events/?machine=`) is cut at milestones
(see MILESTONES and docs in bench/RESULTS.md): each interval between two milestones goes to one
phase: firmware/iPXE, image transfer, guest kernel boot, disk write, commissioning scripts, or
our own services (the region, Celery, the rack, bootsvc's answers, the job runner's calls).

Usage (root): .venv/bin/python bench/lifecycle_bench.py [--vms 3] [--runs 1,3]
                  [--erase-mode quick] [--append-results]
Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/maas_bench_lifecycle,
dropped and created); broker: BENCH_BROKER_URL (default redis://127.0.0.1:6379/7, flushed);
region on 127.0.0.1:BENCH_PORT (default 5297). The lab and logs stay in a temporary directory
(printed); Ctrl-C or an error tears the lab and the region down.
"""
import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.host import cpu_model, loadavg  # noqa: E402  (after the project is on sys.path)

DB_URL = os.environ.get("BENCH_DATABASE_URL",
                        "postgres://postgres@127.0.0.1:5432/maas_bench_lifecycle")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/7")
PORT = int(os.environ.get("BENCH_PORT", "5297"))
IMAGE_CACHE = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))
RESULTS = ROOT / "bench" / "RESULTS.md"
STAGE_TIMEOUT = 1800.0

# Phases, in table order.
FIRMWARE, TRANSFER, KERNEL, DISK, SCRIPTS, SERVICES = (
    "firmware/iPXE", "image transfer", "guest kernel boot", "disk write",
    "commissioning scripts", "our services")
PHASES = (FIRMWARE, TRANSFER, KERNEL, DISK, SCRIPTS, SERVICES)


def is_type(*types: str, text: str = ""):
    return lambda event: event["type"] in types and text in event["description"]


# Milestones of one netboot into the ephemeral environment, after the stage's action Event:
# (name, the first Event after the previous milestone that marks it, the phase of the interval
# that ends there).
NETBOOT = [
    # The action → dispatch → Celery → rack worker → IPMI → vBMC starts qemu → result recorded.
    ("power on/cycle done", is_type("power_on", "power_cycle"), SERVICES),
    # SeaBIOS, the iPXE ROM, its DHCP, lpxelinux.0 and ldlinux.c32 over TFTP, up to the per-MAC
    # config (rendered live from the region's boot decision: a few ms of it are ours).
    ("pxelinux config served", is_type("tftp_file", text="pxelinux.cfg/"), FIRMWARE),
    # PXELINUX fetching the kernel and then the initrd over HTTP from the rack's image cache.
    ("initrd served", is_type("http_file", text="initrd"), TRANSFER),
    # Linux boots (TCG) and the ephemeral /init starts DHCP.
    ("ephemeral DHCP", is_type("dhcp_discover"), KERNEL),
]
MILESTONES = {
    "commission": NETBOOT + [
        # DHCP exchange, GET job/, the runner starts its first script.
        ("first script started", is_type("script_started"), SERVICES),
        # The built-in scripts (run in parallel), their uploads, the job's report.
        ("job finished", is_type("job_finished"), SCRIPTS),
        ("Ready", is_type("status_succeeded"), SERVICES),
    ],
    "deploy": NETBOOT + [
        ("image write started", is_type("script_started"), SERVICES),
        # Pass 1: the image streamed from the rack's cache into sha256sum, nothing written.
        ("pass 1 downloaded", is_type("http_file", text="images/deployable/"), TRANSFER),
        # Pass 2: the image streamed again through gunzip into dd (fsync) with a second sha256,
        # then metal.cfg; download and write run in one pipeline (not separable here).
        ("image written", is_type("script_finished"), DISK),
        ("netboot off (status/)", is_type("deploy_image_written"), SERVICES),
        # Reboot: SeaBIOS, iPXE, DHCP, PXELINUX again, told "boot local".
        ("local-boot config served", is_type("tftp_file", text="pxelinux.cfg/"), FIRMWARE),
        # SYSLINUX from the disk, the test OS kernel and initrd read from it, Linux boots.
        ("deployed OS DHCP", is_type("dhcp_discover"), KERNEL),
        ("user data fetched", is_type("user_data_fetched"), SERVICES),
        ("Deployed", is_type("status_succeeded"), SERVICES),
    ],
    "release": NETBOOT + [
        ("ephemeral lease", is_type("dhcp_ack"), SERVICES),
        # GET job/ (well under a second), the erase, the read-back, the report's upload.
        ("erase report", is_type("erase_report"), DISK),
        ("Ready", is_type("status_succeeded"), SERVICES),
    ],
}
ACTION_EVENT = {"commission": "commission", "deploy": "deploy", "release": "release"}
WAITING = {"commission": ("Commissioning",), "deploy": ("Deploying", "Allocated"),
           "release": ("Releasing", "Disk erasing")}
TARGET = {"commission": "Ready", "deploy": "Deployed", "release": "Ready"}
STAGE_LABEL = {"commission": "commission", "deploy": "deploy → Deployed",
               "release": "release + {mode} erase → Ready"}


@dataclass
class StageTiming:
    """One machine's stage: wall seconds (action Event → status Event) and seconds by phase."""

    wall: float
    phases: dict[str, float]
    missing: list[str] = field(default_factory=list)


@dataclass
class Run:
    vms: int
    erase_mode: str
    load: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    batch_wall: dict[str, float] = field(default_factory=dict)  # first POST → last status
    stages: dict[str, list[StageTiming]] = field(default_factory=dict)
    gaps: float = 0.0  # waiting for the BMCs to report off between stages


# Timeline --------------------------------------------------------------------------------------
def when(event: dict) -> float:
    return datetime.fromisoformat(event["created"].replace("Z", "+00:00")).timestamp()


def stage_timing(events: list[dict], stage: str, since: float) -> StageTiming:
    """Cut the stage's timeline (Events from `since`, oldest first) at its milestones."""
    events = [e for e in events if when(e) >= since]
    start = next(e for e in events if e["type"] == ACTION_EVENT[stage])
    phases, missing = dict.fromkeys(PHASES, 0.0), []
    previous, index = when(start), events.index(start)
    for name, matches, phase in MILESTONES[stage]:
        found = next((i for i in range(index + 1, len(events)) if matches(events[i])), None)
        if found is None:  # its interval joins the next milestone's
            missing.append(name)
            continue
        phases[phase] += when(events[found]) - previous
        previous, index = when(events[found]), found
    return StageTiming(wall=previous - when(start), phases=phases, missing=missing)


# The cycle -------------------------------------------------------------------------------------
def wait_statuses(api, system_ids: list[str], stage: str, timeout: float = STAGE_TIMEOUT) -> None:
    """Poll every machine until all reach the stage's status; raise on any other end."""
    deadline, pending = time.monotonic() + timeout, set(system_ids)
    while pending:
        for system_id in sorted(pending):
            machine = api.get(f"machines/{system_id}/")
            status = machine["status_name"]
            if status == TARGET[stage]:
                pending.discard(system_id)
            elif status not in WAITING[stage]:
                raise RuntimeError(f"{machine['hostname']} is {status} during {stage}: "
                                   f"{machine['error_description']}\n"
                                   + timeline_text(api, system_id))
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"{stage}: {sorted(pending)} not {TARGET[stage]} after "
                               f"{timeout:.0f}s")
        if pending:
            time.sleep(1)


def wait_powered_off(api, lab, system_ids: list[str], vms) -> None:
    """The region recorded power off (through the rack) and every qemu is gone."""
    deadline = time.monotonic() + 300
    while not (all(api.get(f"machines/{s}/")["power_state"] == "off" for s in system_ids)
               and not any(vm.running() for vm in vms)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"VMs still on after 300s; logs in {lab.state.logs_dir}")
        time.sleep(1)


def timeline(api, system_id: str) -> list[dict]:
    events = api.items(f"events/?machine={system_id}&limit=10000")
    return sorted(events, key=lambda e: (when(e), e["id"]))


def timeline_text(api, system_id: str) -> str:
    return "\n".join(f"{e['created']} {e['type']} {e['description'][:160]}"
                     for e in timeline(api, system_id)[-40:])


def request_body(stage: str, system_id: str, erase_mode: str) -> dict:
    if stage == "deploy":  # user data that echoes a marker on the deployed OS
        return {"user_data": f"#!/bin/sh\necho lifecycle-bench {system_id}\n"}
    if stage == "release":
        return {"erase": True, "erase_mode": erase_mode}
    return {}


def run_cycle(api, lab, machines: list[dict], erase_mode: str) -> Run:
    """One cycle of every machine at once; the timings."""
    system_ids = [m["system_id"] for m in machines]
    vms = [vm for vm in lab.vms if vm.mac in {m["mac"] for m in machines}]
    run = Run(vms=len(machines), erase_mode=erase_mode, load=[loadavg()])
    run.started = time.time()
    for stage in ("commission", "deploy", "release"):
        since = time.time()
        for system_id in system_ids:
            api.post(f"machines/{system_id}/{stage}/", request_body(stage, system_id, erase_mode))
        wait_statuses(api, system_ids, stage)
        run.batch_wall[stage] = time.time() - since
        print(f"  {len(machines)} VM(s): {stage} done in {run.batch_wall[stage]:.1f} s",
              flush=True)
        run.stages[stage] = [stage_timing(timeline(api, s), stage, since)
                             for s in system_ids]
        if stage != "deploy":
            off = time.time()
            wait_powered_off(api, lab, system_ids, vms)
            run.gaps += time.time() - off
    run.ended = time.time()
    run.load.append(loadavg())
    return run


# Setup -----------------------------------------------------------------------------------------
def prepare_database(env: dict) -> tuple[str, str]:
    """A fresh database: migrated, an admin with an API key, the images registered. Returns
    (API key, rack secret)."""
    import redis

    from bench.api_list import recreate_database

    os.environ.update(env)
    redis.Redis.from_url(BROKER).flushdb()
    recreate_database(DB_URL)
    import django

    django.setup()
    from nodes.bootimages import builder, testos
    from nodes.services import accounts
    from nodes.services.bootresources import (
        boot_resource_register_deployable,
        boot_resource_register_ephemeral,
    )
    from zones.services.rackapi import rack_secret

    admin = accounts.user_create(None, username="bench", password=accounts.generate_password(),
                                 is_superuser=True)
    _, key = accounts.apikey_create(admin, "lifecycle bench")
    resources = Path(env["BOOT_RESOURCES_DIR"])
    print("building (or reusing) the ephemeral image and the test OS...", flush=True)
    ephemeral = builder.build(resources, "cloud", cache_dir=IMAGE_CACHE, progress=lambda _: None)
    boot_resource_register_ephemeral(ephemeral.kernel, ephemeral.initrd, series="bookworm")
    deployable = testos.build(resources, "cloud", cache_dir=IMAGE_CACHE, progress=lambda _: None)
    boot_resource_register_deployable(deployable.images, os_name=testos.OS_NAME,
                                      series=testos.SERIES, architecture=testos.ARCHITECTURE,
                                      title=testos.TITLE)
    return key, rack_secret()


def make_lab(var: Path, vms: int, env: dict, secret: str):
    from lab.core import Lab, LabConfig

    return Lab(LabConfig(state_dir=var / "lab", vms=vms, racks=1, memory=512, region_port=PORT,
                         broker_url=BROKER, broker_dir=str(var / "broker"), rack_secret=secret,
                         name="bench", env=env))


def bring_up(lab, key: str, web_workers: int):
    """The region and the lab (as lab.demo.start), then the network and the machines through
    the REST API (lab.demo's helpers) and one image sync of the rack."""
    from lab.api import Api
    from lab.demo import configure_network, register_machines

    lab.start_network()
    lab.start_portals()
    lab.start_bmcs()
    lab.start_region(lab.config.env, beat=True, web_workers=web_workers)
    lab.start_racks()
    lab.state.set(phase="up")
    api = Api(f"http://127.0.0.1:{PORT}", key)
    configure_network(api, lab)
    sync = lab.sync_images(lab.racks[0])
    if sync.returncode:
        raise RuntimeError(f"image sync failed: {sync.stdout}{sync.stderr}")
    machines = register_machines(api, lab)  # in lab.vms order
    for machine, vm in zip(machines, lab.vms, strict=True):
        machine["mac"] = vm.mac
    return api, machines


# Report ----------------------------------------------------------------------------------------
def qemu_version() -> str:
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True)
    return out.stdout.split("\n", 1)[0].replace("QEMU emulator version ", "")


def stage_row(label: str, batch: float, timings: list[StageTiming]) -> str:
    walls = [t.wall for t in timings]
    total = sum(walls) or 1e-9
    per_vm = f"{sum(walls) / len(walls):.1f}"
    if len(walls) > 1:
        per_vm += f" ({min(walls):.1f}–{max(walls):.1f})"
    cells = []
    for phase in PHASES:
        seconds = sum(t.phases[phase] for t in timings)
        cells.append("–" if seconds == 0 else
                     f"{seconds / len(timings):.1f} ({100 * seconds / total:.0f}%)")
    return f"| {label} | {batch:.1f} | {per_vm} | " + " | ".join(cells) + " |"


def report(run: Run) -> str:
    vms = f"{run.vms} VM" + ("s at once" if run.vms > 1 else "")
    lines = [f"#### {vms}: wall {run.ended - run.started:.1f} s for the whole cycle "
             f"(load average at start {run.load[0]}, at end {run.load[-1]})", "",
             "| stage | wall s (first request → last machine there) | per VM s (event to event; "
             "min–max) | " + " | ".join(f"{p} s (%)" for p in PHASES) + " |",
             "|---|---|---|" + "---|" * len(PHASES)]
    everything: list[StageTiming] = []
    for stage, timings in run.stages.items():
        label = STAGE_LABEL[stage].format(mode=run.erase_mode)
        lines.append(stage_row(label, run.batch_wall[stage], timings))
        everything += timings
    per_vm_cycle = [StageTiming(
        wall=sum(run.stages[s][i].wall for s in run.stages),
        phases={p: sum(run.stages[s][i].phases[p] for s in run.stages) for p in PHASES})
        for i in range(run.vms)]
    lines.append(stage_row("**the three stages**", sum(run.batch_wall.values()), per_vm_cycle))
    missing = sorted({f"{name}" for t in everything for name in t.missing})
    lines += ["", f"Waiting for the BMCs to report off after commissioning and after the "
                  f"release (before the next stage): {run.gaps:.1f} s in all."]
    if missing:
        lines.append(f"Milestones not found in some timelines (their interval went to the "
                     f"next one): {', '.join(missing)}.")
    return "\n".join(lines)


def header(args: argparse.Namespace) -> str:
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1 << 20)
    return (f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu_model()}), "
            f"{memory} GiB RAM, "
            f"qemu {qemu_version()} TCG (no KVM), VMs 512 MiB, 1 vCPU, 4 GiB sparse virtio "
            f"disk; Python {platform.python_version()}; region: gunicorn "
            f"{args.web_workers} workers, region worker (solo) and beat on PostgreSQL + Redis; "
            f"one rack (rackd, worker concurrency 2). Erase mode: {args.erase_mode}. "
            "Command: `.venv/bin/python bench/lifecycle_bench.py "
            f"--vms {args.vms} --runs {args.runs}`.")


def publish(title: str, header_text: str, reports: list[str], append: bool) -> None:
    """Print the results section; append it to RESULTS.md when asked."""
    text = "\n".join(["", title, "", header_text, ""] + [text + "\n" for text in reports])
    print(text)
    if append:
        with open(RESULTS, "a") as results:
            results.write(text)


def interrupt(signum, frame) -> None:
    """SIGTERM as Ctrl-C: main's finally takes the lab and the region down."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=3, help="VMs in the lab (the largest run)")
    parser.add_argument("--runs", default="1,3",
                        help="VMs per run, comma-separated, each ≤ --vms (default 1,3)")
    parser.add_argument("--erase-mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--append-results", action="store_true",
                        help=f"append the tables to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    sizes = [int(n) for n in args.runs.split(",")]
    if max(sizes) > args.vms:
        parser.error("a run has more VMs than the lab")
    var = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    env = dict(os.environ, DATABASE_URL=DB_URL, CELERY_BROKER_URL=BROKER, VAR_DIR=str(var),
               BOOT_RESOURCES_DIR=str(var / "boot-resources"), LOG_LEVEL="INFO",
               DJANGO_SETTINGS_MODULE="maasproject.settings", PYTHONUNBUFFERED="1")
    print(f"logs and lab in {var}", flush=True)
    key, secret = prepare_database(env)
    lab = make_lab(var, args.vms, env, secret)
    lab.prepare()
    signal.signal(signal.SIGTERM, interrupt)
    runs = []
    try:
        api, machines = bring_up(lab, key, args.web_workers)
        for size in sizes:
            for vm in lab.vms[:size]:
                vm.create_disk(lab.config.disk_gib)  # every run starts from blank disks
            print(f"run: {size} VM(s)", flush=True)
            runs.append(run_cycle(api, lab, machines[:size], args.erase_mode))
            print(report(runs[-1]), flush=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        print("stopping the region and the lab...", flush=True)
        lab.down()
    publish("### Whole lab cycle (issue 7) — `bench/lifecycle_bench.py`", header(args),
            [report(run) for run in runs], args.append_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
