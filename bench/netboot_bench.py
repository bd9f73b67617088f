"""Benchmark: IPMI power-on → the ephemeral init's first call to the region, ours vs a baseline.

One qemu VM (TCG) behind our virtual BMC (qemu backend) is powered on through our IPMI driver,
with each variant of the rack's boot services in turn (`--variants`):
- ours, ours-no-ra: bootsvc (DHCP, TFTP, HTTP from the rack's image cache, boot decisions from
  the region), answering IPv6 router solicitations or not (the baseline does not);
  BIOS: lpxelinux.0 + per-MAC config; UEFI: shim → GRUB (per-MAC config) → the signed kernel;
- ours-ipxe, ours-ipxe-no-ra: the same with the bench subnet's `bios_boot_loader` "ipxe" (BIOS
  PXE ROMs chainload undionly.kpxe, which fetches its script, kernel and initrd over HTTP);
- baseline: dnsmasq (DHCP + TFTP) and, for BIOS, nginx with the same loaders, kernel, initrd
  and kernel command line (bench/netboot_baselines.py).
`--firmware bios`: SeaBIOS + qemu's iPXE ROM, 512 MiB; `uefi-secureboot`: lab.vm's OVMF VM with
Microsoft's keys enrolled (q35, SMM), 768 MiB. The clock stops when the region's access log shows
the VM's first metadata request; a boot that does not get there within `--boot-timeout` counts
as a failure. Everything runs in network namespaces (bridge, region, rack) with no link to the
root namespace; the region (gunicorn) reaches PostgreSQL through its unix socket.

Usage (root): .venv/bin/python bench/netboot_bench.py [--runs 5] [--variants ours,baseline]
    [--grouped] [--firmware bios|uefi-secureboot] [--boot-timeout 240]
Database: maas_bench_netboot (dropped and created). Installs dnsmasq and nginx-light if missing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "maas_bench_netboot"
DB_URL = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB_NAME}"
VAR = Path(tempfile.mkdtemp(prefix="bench-netboot-"))
ENV = dict(DATABASE_URL=DB_URL, VAR_DIR=str(VAR), LOG_LEVEL="INFO",
           DJANGO_SETTINGS_MODULE="maasproject.settings", PYTHONUNBUFFERED="1",
           BOOT_RESOURCES_DIR=str(VAR / "boot-resources"), BENCH_DATABASE_URL=DB_URL)
os.environ.update(ENV)
from bench.api_list import recreate_database  # noqa: E402

os.environ.update(ENV)  # api_list sets its own VAR_DIR and broker on import
os.environ.pop("CELERY_BROKER_URL", None)  # the embedded default: no broker is used here
from bench.netboot_baselines import baseline_files, start_baseline  # noqa: E402
from bench.netboot_report import MILESTONES, Results, report, report_phases  # noqa: E402
from lab.vm import BOOT_LOADER_FAILED, VM, firmware_unavailable, plain_console  # noqa: E402
from tests.netlab import NetLab  # noqa: E402

REGION, RACK, VM_MAC, BMC_PORT = "10.99.0.1", "10.99.0.2", "52:54:00:12:34:56", 6230
REGION_URL = f"http://{REGION}:5240/"
IMAGE_CACHE = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))
VARIANTS = ("ours", "ours-no-ra", "ours-ipxe", "ours-ipxe-no-ra", "baseline")
MEMORY = {"bios": 512, "uefi-secureboot": 768}  # MiB; 768 as the lab's UEFI tests
# What a boot loader prints when it has given up: the boot cannot go on, it fails at once.
GAVE_UP = (BOOT_LOADER_FAILED, "Failed to boot both default and fallback entries")
QEMU = ("{qemu} -machine accel=tcg -m 512 -display none -nographic -no-reboot -nodefaults "
        "-serial file:{console} -netdev tap,id=n0,ifname=tap0,script=no,downscript=no "
        f"-device virtio-net-pci,netdev=n0,mac={VM_MAC} "
        "-qmp unix:{{qmp}},server=on,wait=off -boot order={{boot_order}}")
IPMI = """
import sys
from power.drivers.ipmi import IPMIDriver
driver = IPMIDriver({"power_address": "127.0.0.1", "power_port": PORT, "power_user": "admin",
                     "power_pass": "password"})
driver.timeout = 60
driver.power_on(netboot=True) if sys.argv[1] == "on" else driver.power_off()
""".replace("PORT", str(BMC_PORT))


def ensure_packages() -> None:
    missing = [pkg for pkg, cmd in (("dnsmasq", "dnsmasq"), ("nginx-light", "nginx"))
               if not shutil.which(cmd) and not Path(f"/usr/sbin/{cmd}").exists()]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                       check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    # The packages start their system services on install; the benchmark runs its own.
    subprocess.run(["systemctl", "stop", "dnsmasq", "nginx"], capture_output=True)


def seed() -> tuple[object, str, str]:
    """Rack, VLAN with DHCP, range, a Commissioning machine and the boot image; (rack, token,
    kernel command line the machine gets)."""
    import django

    django.setup()
    from nodes.bootimages import builder
    from nodes.choices import NodeStatus
    from nodes.models import Interface, Machine
    from nodes.selectors.boot import boot_decision
    from nodes.services.bootresources import boot_resource_register_ephemeral
    from zones.models import VLAN, Fabric, IPRange, Subnet
    from zones.services.rackapi import rack_register, rack_secret

    built = builder.build(VAR / "boot-resources", "cloud", cache_dir=IMAGE_CACHE,
                          progress=lambda _: None)
    print(f"kernel: {built.kernel_facts}", flush=True)  # Secure Boot needs the signed build
    boot_resource_register_ephemeral(built.kernel, built.initrd, series="bookworm")
    rack, token = rack_register(rack_secret(), "bench-rack", "1", [])
    vlan = VLAN.objects.create(fabric=Fabric.objects.create(name="bench"), vid=0,
                               dhcp_on=True, primary_rack=rack)
    subnet = Subnet.objects.create(vlan=vlan, cidr="10.99.0.0/24", name="bench")
    IPRange.objects.create(subnet=subnet, type="dynamic", start_ip="10.99.0.100",
                           end_ip="10.99.0.199")
    machine = Machine.objects.create(hostname="bench-vm", status=NodeStatus.COMMISSIONING)
    Interface.objects.create(machine=machine, name="eth0", mac_address=VM_MAC)
    params = boot_decision(VM_MAC, rack, REGION_URL)["kernel_params"]
    return rack, token, params


def heartbeat(rack, stop: threading.Event) -> None:
    from django.db import connection

    from zones.services.rackapi import rack_heartbeat

    while not stop.wait(1.0):
        rack_heartbeat(rack, [{"name": "eth0", "mac": "", "addresses": [f"{RACK}/24"]}], {})
    connection.close()


@dataclass
class Boot:
    """One timed boot: seconds (None: failed), milestones, why it failed, rack TIME_WAITs."""

    seconds: float | None
    seen: dict
    failure: str
    time_wait: tuple[int, int]  # (all, with the VM's address)


class Bench:
    """The lab: namespaces, region, rack services, vBMC; one timed boot at a time."""

    def __init__(self, lab: NetLab, firmware: str):
        self.lab, self.env, self.firmware = lab, dict(os.environ), firmware
        self.ns = {name: lab.netns(name) for name in ("br", "region", "rack")}
        for index, (name, address) in enumerate([("region", REGION), ("rack", RACK)]):
            lab.veth(self.ns[name], "eth0", self.ns["br"], f"p{index}")
            lab.addr(self.ns[name], "eth0", f"{address}/24")
        lab.run(self.ns["br"], ["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"])
        lab.run(self.ns["br"], ["ip", "link", "set", "tap0", "up"])
        lab.bridge(self.ns["br"], "br0", ["p0", "p1", "tap0"])
        self.access_log, self.console = VAR / "access.log", VAR / "console"
        self.vm: VM | None = None
        self.bootsvc_starts = 0

    def start(self, ns: str, args: list[str], log: str) -> subprocess.Popen:
        return self.lab.popen(self.ns[ns], args, cwd=ROOT, env=self.env,
                              stdout=open(VAR / log, "ab"), stderr=subprocess.STDOUT)

    def vm_command(self, qmp: Path) -> str:
        """The vBMC's qemu command: the bench's SeaBIOS VM, or lab.vm's OVMF VM."""
        qemu = shutil.which("qemu-system-x86_64")
        if self.firmware == "bios":
            return QEMU.format(qemu=qemu, console=self.console)
        self.vm = VM(name="bench-vm", mac=VM_MAC, bmc_address="127.0.0.1", bmc_port=BMC_PORT,
                     bmc_user="admin", bmc_password="password", console=str(self.console),
                     disk=str(VAR / "vm" / "disk.img"), qmp=str(qmp), tap="tap0",
                     netns=self.ns["br"], memory=MEMORY[self.firmware], firmware=self.firmware)
        return self.vm.qemu_command(qemu)

    def start_region_and_bmc(self) -> None:
        self.start("region", [sys.executable, "-m", "gunicorn", "maasproject.wsgi", "-b",
                              f"{REGION}:5240", "-w", "2", "--threads", "4",
                              "--access-logfile", str(self.access_log)], "region.log")
        qmp = Path(tempfile.mkdtemp(prefix="bq")) / "qmp.sock"
        config = VAR / "vbmc.json"
        config.write_text(json.dumps({"bmcs": [{
            "port": BMC_PORT, "address": "127.0.0.1", "backend": "qemu", "qmp": str(qmp),
            "command": self.vm_command(qmp)}]}))
        self.start("br", [sys.executable, "-m", "lab.vbmc", "--config", str(config)],
                   "vbmc.log")
        wait_for(lambda: self.access_log.exists() and '"ready"' in read(VAR / "vbmc.log"), 60)

    def sync_rack_cache(self, credentials: Path) -> Path:
        cache = VAR / "rack" / "rack" / "cache"  # bootsvc serves $VAR_DIR/rack/cache
        for _ in range(60):
            done = self.lab.run(self.ns["rack"], [
                sys.executable, "-m", "rack_worker.imagecache", "--once", "--region-url",
                REGION_URL, "--credentials", str(credentials), "--cache-dir", str(cache)],
                cwd=ROOT, env=dict(self.env, VAR_DIR=str(VAR / "rack")), timeout=120)
            if done.returncode == 0:
                return cache
            time.sleep(1)
        raise RuntimeError(f"image sync failed: {done.stdout}{done.stderr}")

    def ipmi(self, verb: str) -> None:
        self.lab.run(self.ns["br"], [sys.executable, "-c", IPMI, verb], cwd=ROOT, env=self.env,
                     timeout=120).check_returncode()

    def first_call(self, offset: int) -> str:
        """The VM's address if the access log shows its first metadata request after
        `offset`, else ""."""
        with open(self.access_log) as handle:
            handle.seek(offset)
            for line in handle:
                client = line.split(" ", 1)[0]
                if "/api/v1/metadata/" in line and client not in (REGION, RACK):
                    return client
        return ""

    def time_wait(self, vm: str) -> tuple[int, int]:
        """TCP connections in TIME_WAIT in the rack's namespace: all (most are bootsvc's own
        requests to the region), and those with the VM's address (this boot's, and an earlier
        boot's that got the same lease: those are what the next boot's lwIP meets)."""
        out = self.lab.run(self.ns["rack"], ["ss", "-Htan", "state", "time-wait"]).stdout
        with open(VAR / "time-wait.log", "a") as log:  # which ports: who closed first
            log.write(f"--- {time.strftime('%H:%M:%S')}\n{out}")
        peers = [line.split()[-1].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()]
        return len(peers), sum(peer == vm for peer in peers)

    def timed_boot(self, timeout: float) -> Boot:
        """Power on; time to the first metadata call (or a failure after `timeout`, or as soon
        as the boot loader gives up); TIME_WAITs on the rack then; power off."""
        if self.vm is not None:  # a fresh disk and Secure Boot store: every boot starts alike
            self.vm.create_disk(1)
        offset = self.access_log.stat().st_size
        started = time.monotonic()
        console = ConsoleMilestones(self.console, started, MILESTONES[self.firmware])
        console.start()
        self.ipmi("on")
        wait_until(lambda: self.first_call(offset) or console.failed, timeout, poll=0.05)
        elapsed = time.monotonic() - started
        console.stop()
        booted = self.first_call(offset)
        waits = self.time_wait(booted or "-")
        self.ipmi("off")
        time.sleep(1)
        return Boot(elapsed if booted else None, console.seen,
                    "" if booted else console.last_line(), waits)


class ConsoleMilestones(threading.Thread):
    """Notes when each milestone line first shows up on the VM's console."""

    def __init__(self, path: Path, started: float, milestones: tuple):
        super().__init__(daemon=True)
        self.path, self.started, self.done = path, started, threading.Event()
        self.milestones, self.offset, self.text = milestones, len(read(path)), ""
        self.seen: dict[str, float] = {}
        self.failed = False  # the boot loader gave up: nothing more will happen

    def run(self) -> None:
        while not self.done.wait(0.05):
            text = read(self.path)
            if len(text) < self.offset:  # a new qemu started the console file afresh
                self.offset = 0
            # Without terminal control: iPXE and syslinux move the cursor mid-word.
            self.text = plain_console(text[self.offset:])
            self.failed = any(marker in self.text for marker in GAVE_UP)
            for name, pattern in self.milestones:
                if name not in self.seen and pattern in self.text:
                    self.seen[name] = time.monotonic() - self.started

    def stop(self) -> None:
        self.done.set()
        self.join(2)

    def last_line(self) -> str:
        """GRUB's first error, else the console's last line with words in it (what the VM was
        doing when it stopped; GRUB redraws its menu after an error)."""
        lines = [line.strip() for line in self.text.splitlines()]
        errors = [line for line in lines if line.startswith("error:")]
        meaningful = errors or [line for line in lines if any(ch.isalnum() for ch in line)][-1:]
        return meaningful[0][:120] if meaningful else "(console empty)"


def wait_until(check, timeout: float, poll: float = 0.3) -> bool:
    """Poll check() until it is true (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll)
    return False


def wait_for(check, timeout: float, poll: float = 0.3) -> None:
    if not wait_until(check, timeout, poll):
        raise TimeoutError(f"timed out after {timeout}s; logs in {VAR}")


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def start_ours(bench: Bench, credentials: Path, variant: str) -> list[subprocess.Popen]:
    """bootsvc with the variant's BIOS boot loader and router-solicitation answers."""
    from zones.models import Subnet

    # bootsvc takes the subnet's DHCP settings from the region when it starts.
    loader = "ipxe" if variant.startswith("ours-ipxe") else "pxelinux"
    Subnet.objects.filter(name="bench").update(bios_boot_loader=loader)
    answer_rs = not variant.endswith("-no-ra")
    bench.env["BOOTSVC_ANSWER_ROUTER_SOLICITATIONS"] = str(answer_rs).lower()
    log = VAR / "bootsvc.log"
    proc = bench.start("rack", [sys.executable, "-m", "bootsvc", "--region-url", REGION_URL,
                                "--credentials", str(credentials)], "bootsvc.log")
    wait_for(lambda: read(log).count("DHCP listening") > bench.bootsvc_starts, 60)
    bench.bootsvc_starts += 1
    return [proc]


def schedule(variants: list[str], runs: int, grouped: bool) -> list[tuple[int, str]]:
    """(run, variant) in boot order: interleaved per run, or each variant's runs together
    (`--grouped`: back-to-back boots of one stack, as a machine booting again within a
    minute meets them)."""
    if grouped:
        return [(run, name) for name in variants for run in range(runs)]
    return [(run, name) for run in range(runs) for name in variants]


def describe(run: int, name: str, boot: Boot) -> str:
    """The progress line printed after each boot."""
    waits = (f"TIME_WAIT on the rack {boot.time_wait[0]} (with the VM's address "
             f"{boot.time_wait[1]})")
    if boot.seconds is None:
        return f"run {run + 1} {name}: FAILED ({boot.failure!r}); {waits}"
    seen = ", ".join(f"{key} {value:.1f}" for key, value in boot.seen.items())
    return f"run {run + 1} {name}: {boot.seconds:.2f} s; {waits}; {seen}"


def run_boots(bench: Bench, args, starters: dict) -> dict[str, Results]:
    """Every scheduled boot with its variant's services started just before it."""
    results = {name: Results() for name in args.variants}
    for run, name in schedule(args.variants, args.runs, args.grouped):
        if args.flush_tcp_metrics:  # every boot as the first one to this address
            bench.lab.run(bench.ns["rack"], ["ip", "tcp_metrics", "flush", "all"])
        procs = starters[name]()
        try:
            boot = bench.timed_boot(args.boot_timeout)
        finally:
            for proc in procs:
                bench.lab.kill(proc)
        res = results[name]
        res.seconds.append(boot.seconds)
        res.time_wait.append(boot.time_wait[1])
        if boot.seconds is not None:
            res.phases.append(boot.seen)
        print(describe(run, name, boot), flush=True)
    return results


def variant_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(VARIANTS)}")
    return list(dict.fromkeys(names))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--variants", type=variant_list, default="ours,ours-no-ra,baseline",
                        help=f"comma-separated, among {', '.join(VARIANTS)}")
    parser.add_argument("--grouped", action="store_true",
                        help="all runs of one variant back to back, then the next variant")
    parser.add_argument("--firmware", choices=tuple(MEMORY), default="bios")
    parser.add_argument("--boot-timeout", type=float, default=240,
                        help="seconds to the first metadata call before a boot counts as failed")
    parser.add_argument("--flush-tcp-metrics", action="store_true",
                        help="forget the kernel's cached TCP metrics (RTT) before every boot")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    reason = firmware_unavailable(args.firmware)
    if reason:
        raise SystemExit(reason)
    ensure_packages()
    recreate_database(DB_URL)
    rack, token, params = seed()
    # The kernel command line ours gives: its pxelinux (IPAPPEND 2) and GRUB configs add BOOTIF.
    params += f" BOOTIF=01-{VM_MAC.replace(':', '-')}"
    stop = threading.Event()
    threading.Thread(target=heartbeat, args=(rack, stop), daemon=True).start()
    credentials = VAR / "rack.json"
    credentials.write_text(f'{{"system_id": "{rack.system_id}", "token": "{token}"}}')
    with NetLab("bnb") as lab:
        bench = Bench(lab, args.firmware)
        bench.start_region_and_bmc()
        bench.env.update(VAR_DIR=str(VAR / "rack"))  # the rack's own state, not the region's
        cache = bench.sync_rack_cache(credentials)
        tftp = baseline_files(VAR, cache, RACK, params, args.firmware)
        starters = {name: (lambda name=name: start_ours(bench, credentials, name))
                    for name in VARIANTS if name.startswith("ours")}
        starters["baseline"] = lambda: start_baseline(bench, VAR, tftp, args.firmware)
        results = run_boots(bench, args, starters)
        stop.set()
    report(results, args.firmware, MEMORY[args.firmware], str(VAR))
    report_phases(results, args.firmware)


if __name__ == "__main__":
    main()
