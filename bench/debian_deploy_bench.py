"""Benchmark: deploying the real Debian 12 image on lab VMs, N at once, phase by phase.

Each machine's deploy is cut into phases from its boot timeline, with the share that is ours.

The region, the lab and the images as in bench/lifecycle_bench.py (its helpers): a fresh
PostgreSQL database, gunicorn, a region worker and beat on 127.0.0.1, one rack; the ephemeral
image built (or reused) and registered, and Debian 12 (`nodes.bootimages.debian`, the cache
tests/lab/test_debian_deploy.py shares) copied into the boot resources and registered; the rack
syncs them. Lab VMs: qemu TCG, 1024 MiB, an 8 GiB sparse disk, virtual IPMI BMCs, max(--runs)
VMs per firmware: `bios` (SeaBIOS, storage layout flat), `uefi-secureboot` (OVMF, Secure Boot
on, layout lvm). Through the REST API with an admin key: DHCP on the lab's VLAN, the subnet's
gateway and DNS server the rack, the lab's own addresses (10.99.0.1-9) reserved; each VM as a
machine with IPMI power, a vda of 8 GiB, its interface linked AUTO with the default gateway and
the layout chosen (POST storage-layout/). No endpoint sets what commissioning finds, so Ready
and the firmware are written with the ORM, as the lab test's factories do (no commissioning).

Per firmware and run of N VMs (blank disks): deploy them all at once (debian/bookworm, user data
that writes a marker), poll until all are Deployed (30 min at most), then release them all
(without erase, or --erase-mode quick) and wait until Ready and powered off.

Phases of a machine's deploy (bench/debian_deploy_phases.py: the milestone Events): (1) netboot:
deploy action → write-image started (the runner's first call in the ephemeral environment;
no Event marks the start of the image download, so pass 1 starts here); (2) pass 1: → pass 1's
image http_file (sent whole and acknowledged); (3) pass 2: → deploy_image_written (download,
zstd, tar, GRUB, the runner's reports); (4) first boot: → the first `cloudinit` Event;
(5) cloud-init: → Deployed. Our share (neither guest firmware nor kernel boots, nor the image's
transfer and write, nor cloud-init's own work) counts exactly: deploy action → power on
recorded (action, Celery, rack worker, IPMI, vBMC starting qemu); ephemeral DHCP discover →
write-image started (the rack's DHCP, GET job/); all of pass 1 (an extra whole download only to
check the sha256); the runner's output uploads and results/finish/ (script_finished minus the
runner's reported runtime after its start) and status/ (→ deploy_image_written); modules-final
finished → Deployed. Not separable, so not counted: boot decisions (ms), GET cloud-config/ in
pass 2, and the metadata and webhook requests inside cloud-init's time.

Usage (root): .venv/bin/python bench/debian_deploy_bench.py [--runs 1,3]
                  [--firmware bios,uefi-secureboot] [--erase-mode quick] [--verbose]
                  [--append-results]
Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/maas_bench_debian,
dropped and created); broker: BENCH_BROKER_URL (default redis://127.0.0.1:6379/8, flushed);
region on 127.0.0.1:BENCH_PORT (default 5298). The lab and logs stay in a temporary directory.
"""
import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import lifecycle_bench as lifecycle  # noqa: E402  (after the project is on sys.path)
from bench.debian_deploy_phases import (  # noqa: E402
    DeployTiming,
    deploy_timing,
    since,
    summary,
)
from bench.host import loadavg, machine_summary  # noqa: E402
from bench.lifecycle_bench import (  # noqa: E402
    bring_up,
    interrupt,
    qemu_version,
    timeline,
    wait_powered_off,
    wait_statuses,
    when,
)
from lab.core import NETWORK, Lab  # noqa: E402
from lab.vm import firmware_unavailable  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL",
                        "postgres://postgres@127.0.0.1:5432/maas_bench_debian")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/8")
PORT = int(os.environ.get("BENCH_PORT", "5298"))
RESULTS = lifecycle.RESULTS
LAYOUTS = {"bios": "flat", "uefi-secureboot": "lvm"}
MEMORY, DISK_GIB = 1024, 8
RESERVED = ("10.99.0.1", "10.99.0.9")  # the portal and the racks: not the region's to give
DEPLOY_TIMEOUT = 1800.0
# install_root.sh's timings line: the plain download | zstd | tar of the image onto the new file
# system in the ephemeral environment (the lower bound of any root tarball deploy).
UNPACK = re.compile(r"metal: install_root: timings: .*download and unpack ([\d.]+) s")


@dataclass
class Run:
    vms: int
    firmware: str
    load: list[str] = field(default_factory=list)
    deploy_wall: float = 0.0  # first deploy request → last machine Deployed
    release_wall: float = 0.0  # first release request → last machine Ready
    timings: list[DeployTiming] = field(default_factory=list)
    unpack: list[float] = field(default_factory=list)  # install_root.sh's own timing, per VM


# Setup -----------------------------------------------------------------------------------------
def use_our_settings() -> None:
    """Point lifecycle_bench's helpers at this bench's database, broker and port."""
    # They read its module globals: without this they would drop the lifecycle database.
    lifecycle.DB_URL, lifecycle.BROKER, lifecycle.PORT = DB_URL, BROKER, PORT


def unpacked_size(image: Path) -> int:
    """The tarball's size from its zstd frame header (a reused build does not report it)."""
    out = subprocess.run(["zstd", "-lv", str(image)], capture_output=True, text=True).stdout
    found = re.search(r"Decompressed Size: .*\((\d+) B\)", out)
    return int(found.group(1)) if found else 0


def register_debian(resources: Path) -> dict:
    """Build (or reuse) Debian 12, copy and register it (the lab test's helper); its sizes."""
    from tests.lab.helpers import register_debian as build_and_register

    print("building (or reusing) Debian 12...", flush=True)
    result = build_and_register(resources)
    return {"zst": result.image.stat().st_size,
            "unpacked": result.unpacked_size or unpacked_size(result.image)}


def make_lab(var: Path, firmwares: list[str], per_firmware: int, env: dict, secret: str):
    """lifecycle_bench's lab with bigger VMs: per_firmware VMs of each firmware, in order."""
    config = lifecycle.make_lab(var, per_firmware * len(firmwares), env, secret).config
    return Lab(replace(config, memory=MEMORY, disk_gib=DISK_GIB,
                       firmware=tuple(f for f in firmwares for _ in range(per_firmware))))


def serve_lab_network(api, lab) -> int:
    """The subnet's gateway and DNS server are the rack; the lab's own addresses reserved."""
    subnet = api.items(f"subnets/?cidr={NETWORK}")[0]
    rack_ip = lab.racks[0].address
    api.patch(f"subnets/{subnet['id']}/", {"gateway_ip": rack_ip, "dns_servers": [rack_ip]})
    api.post("ipranges/", {"subnet": subnet["id"], "type": "reserved", "start_ip": RESERVED[0],
                           "end_ip": RESERVED[1], "comment": "the lab's portal and racks"})
    return subnet["id"]


def make_ready(api, machine: dict, vm, subnet: int) -> None:
    """The machine as commissioning would leave it, with its firmware's storage layout."""
    from nodes.choices import Firmware, NodeStatus
    from nodes.models import Machine

    system_id = machine["system_id"]
    api.patch(f"machines/{system_id}/", {"cpu_count": 1, "memory": MEMORY})
    api.post(f"machines/{system_id}/block-devices/", {"name": "vda", "size": DISK_GIB << 30})
    interface = machine["interface_set"][0]["id"]
    api.post(f"machines/{system_id}/interfaces/{interface}/link-subnet/",
             {"mode": "AUTO", "subnet": subnet, "default_gateway": True})
    # Before the layout: lvm's boot partition (an ESP on UEFI) depends on the firmware.
    firmware = Firmware.BIOS if vm.firmware == "bios" else Firmware.UEFI
    Machine.objects.filter(system_id=system_id).update(status=NodeStatus.READY,
                                                        firmware=firmware)
    api.post(f"machines/{system_id}/storage-layout/",
             {"storage_layout": LAYOUTS[vm.firmware], "boot_disk": "vda"})


# A run -----------------------------------------------------------------------------------------
def deploy_body(system_id: str) -> dict:
    return {"osystem": "debian", "distro_series": "bookworm",
            "user_data": f"#!/bin/sh\necho debian-deploy-bench {system_id} "
                         "> /var/tmp/metal-user-data\n"}


def release_body(erase_mode: str) -> dict:
    return {"erase": False} if erase_mode == "none" else {"erase": True,
                                                           "erase_mode": erase_mode}


def post_all(api, system_ids: list[str], action: str, body) -> float:
    """POST the action to every machine; when the first went out."""
    started = time.time()
    for system_id in system_ids:
        api.post(f"machines/{system_id}/{action}/", body(system_id))
    return started


def deploy_run(api, lab, pairs: list[tuple[dict, object]], firmware: str,
               args: argparse.Namespace) -> Run:
    """Deploy every machine at once, wait for Deployed, cut the timelines, release them all."""
    system_ids, vms = [m["system_id"] for m, _ in pairs], [vm for _, vm in pairs]
    run = Run(vms=len(pairs), firmware=firmware, load=[loadavg()])
    consoles = [vm.console_size() for vm in vms]
    started = post_all(api, system_ids, "deploy", deploy_body)
    wait_statuses(api, system_ids, "deploy", DEPLOY_TIMEOUT)
    run.deploy_wall = time.time() - started
    print(f"  {run.vms} VM(s) {firmware}: Deployed in {run.deploy_wall:.1f} s", flush=True)
    events = {s: timeline(api, s) for s in system_ids}
    run.timings = [deploy_timing(events[s], started) for s in system_ids]
    run.unpack = [unpack_seconds(vm, mark) for vm, mark in zip(vms, consoles, strict=True)]
    if args.verbose:
        show(since(events[system_ids[0]], started), run.timings[0], vms[0], consoles[0])
    released = post_all(api, system_ids, "release", lambda _: release_body(args.erase_mode))
    wait_statuses(api, system_ids, "release")
    run.release_wall = time.time() - released
    wait_powered_off(api, lab, system_ids, vms)  # the next run starts from machines at rest
    run.load.append(loadavg())
    return run


def unpack_seconds(vm, since_size: int) -> float:
    """The VM's download-and-unpack time as install_root.sh printed it (0.0 when absent)."""
    found = UNPACK.search(vm.console_plain(since_size))
    return float(found.group(1)) if found else 0.0


def show(events: list[dict], timing: DeployTiming, vm, console: int) -> None:
    """One machine's timeline with its milestones, and the runner's lines on its console."""
    names = {index: name for name, index in timing.marks.items()}
    print(f"  timeline of {vm.name} (seconds from the first Event; ← milestone):")
    for index, event in enumerate(events):
        mark = f"  ← {names[index]}" if index in names else ""
        text = (event["description"].splitlines() or [""])[0][:140]
        print(f"  {when(event) - when(events[0]):8.1f} {event['type']}: {text}{mark}")
    print(f"  the runner on {vm.name}'s console ({vm.console_log}):")
    for line in vm.console_plain(console).splitlines():
        if "metal: " in line:
            print("    " + line[line.index("metal: "):])


def run_all(lab, key: str, firmwares: list[str], sizes: list[int],
            args: argparse.Namespace, runs: list[Run]) -> None:
    """Bring the region and the lab up, make the machines Ready, then every run in turn."""
    api, machines = bring_up(lab, key, args.web_workers)
    subnet = serve_lab_network(api, lab)
    pairs = list(zip(machines, lab.vms, strict=True))
    for machine, vm in pairs:
        make_ready(api, machine, vm, subnet)
    for firmware in firmwares:
        group = [(m, vm) for m, vm in pairs if vm.firmware == firmware]
        for size in sizes:
            for _, vm in group[:size]:
                vm.create_disk(DISK_GIB)  # blank disks (and UEFI variables) every run
            print(f"run: {size} VM(s), {firmware}", flush=True)
            runs.append(deploy_run(api, lab, group[:size], firmware, args))
            print(report(runs[-1]), flush=True)


# Report ----------------------------------------------------------------------------------------
def report(run: Run) -> str:
    vms = f"{run.vms} VM" + ("s at once" if run.vms > 1 else "")
    lines = [f"#### {vms}, {run.firmware} ({LAYOUTS[run.firmware]}): deploy {run.deploy_wall:.1f}"
             f" s (first request → last Deployed), release {run.release_wall:.1f} s (load "
             f"average before {run.load[0]}, after {run.load[-1]})", "",
             "| per machine (action Event → Event) | median s | max s | share of deploy time |",
             "|---|---|---|---|"]
    for what, middle, top, share in summary(run.timings):
        what = f"**{what}**" if what in ("deploy → Deployed", "our share") else what
        lines.append(f"| {what} | {middle:.1f} | {top:.1f} | {100 * share:.0f}% |")
    unpack = sorted(run.unpack)
    lines.append(f"| lower bound: download, zstd and tar of the image in the ephemeral "
                 f"environment (install_root.sh's timing) | {unpack[len(unpack) // 2]:.1f} | "
                 f"{unpack[-1]:.1f} | |")
    missing = sorted({name for t in run.timings for name in t.missing})
    if missing:
        lines += ["", "Milestones not found in some timelines (their interval went to the next "
                      f"one): {', '.join(missing)}."]
    return "\n".join(lines)


def header(args: argparse.Namespace, image: dict) -> str:
    erase = "without erase" if args.erase_mode == "none" else f"with {args.erase_mode} erase"
    return (f"{machine_summary()}, qemu {qemu_version()} TCG (no KVM); VMs {MEMORY} MiB, "
            f"1 vCPU, {DISK_GIB} GiB sparse virtio disk. Image debian/bookworm root.tar.zst: "
            f"{image['zst']} bytes ({image['zst'] / (1 << 20):.0f} MiB), {image['unpacked']} "
            f"bytes unpacked ({image['unpacked'] / (1 << 20):.0f} MiB). Python "
            f"{platform.python_version()}; region: gunicorn {args.web_workers} workers, region "
            f"worker and beat on PostgreSQL + Redis; one rack. Release {erase}. Command: "
            f"`.venv/bin/python bench/debian_deploy_bench.py --runs {args.runs} --firmware "
            f"{args.firmware} --erase-mode {args.erase_mode}`.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="1,3", help="VMs per run, comma-separated")
    parser.add_argument("--firmware", default="bios,uefi-secureboot",
                        help="bios (layout flat), uefi-secureboot (lvm), or both, "
                             "comma-separated (default both)")
    parser.add_argument("--erase-mode", choices=("none", "quick"), default="none",
                        help="how the machines are released after each run (default none)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--verbose", action="store_true",
                        help="print one machine's timeline with its milestones, every run")
    parser.add_argument("--append-results", action="store_true",
                        help=f"append the tables to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    for firmware in args.firmware.split(","):
        if firmware not in LAYOUTS:
            parser.error(f"--firmware: one of {', '.join(LAYOUTS)}")
        if problem := firmware_unavailable(firmware):
            parser.error(problem)
    return args


def main() -> int:
    args = parse_args()
    sizes, firmwares = [int(n) for n in args.runs.split(",")], args.firmware.split(",")
    use_our_settings()
    var = Path(tempfile.mkdtemp(prefix="bench-debian-"))
    env = dict(os.environ, DATABASE_URL=DB_URL, CELERY_BROKER_URL=BROKER, VAR_DIR=str(var),
               BOOT_RESOURCES_DIR=str(var / "boot-resources"), LOG_LEVEL="INFO",
               DJANGO_SETTINGS_MODULE="maasproject.settings", PYTHONUNBUFFERED="1")
    print(f"logs and lab in {var}", flush=True)
    key, secret = lifecycle.prepare_database(env)
    image = register_debian(Path(env["BOOT_RESOURCES_DIR"]))
    lab = make_lab(var, firmwares, max(sizes), env, secret)
    lab.prepare()
    signal.signal(signal.SIGTERM, interrupt)
    runs: list[Run] = []
    try:
        run_all(lab, key, firmwares, sizes, args, runs)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        print("stopping the region and the lab...", flush=True)
        lab.down()
    lifecycle.publish("## Debian 12 deploy (issue 16) — `bench/debian_deploy_bench.py`",
                      header(args, image), [report(run) for run in runs], args.append_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
