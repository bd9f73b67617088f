"""Benchmark: IPMI power-on → the ephemeral init's first call to the region, ours vs a baseline.

The same qemu VM (TCG, iPXE ROM, 512 MiB) behind our virtual BMC (qemu backend) is powered on
through our IPMI driver, alternately with:
- ours: bootsvc (DHCP, TFTP lpxelinux.0 + per-MAC config, HTTP kernel/initrd from the rack's
  image cache, boot decisions from the region);
- baseline: dnsmasq (DHCP + TFTP, the same lpxelinux.0 and a pxelinux.cfg/default with the same
  kernel command line) and nginx serving the same kernel and initrd.
The clock stops when the region's access log shows the VM's first metadata request. Everything
runs in network namespaces (bridge, region, rack) with no link to the root namespace; the region
(gunicorn) reaches PostgreSQL through its unix socket.

Usage (root): .venv/bin/python bench/netboot_bench.py [--runs 5]
Database: maas_bench_netboot (dropped and created). Installs dnsmasq and nginx-light if missing.
"""
import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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
from tests.netlab import NetLab  # noqa: E402

REGION, RACK, VM_MAC, BMC_PORT = "10.99.0.1", "10.99.0.2", "52:54:00:12:34:56", 6230
REGION_URL = f"http://{REGION}:5240/"
IMAGE_CACHE = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))
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
NGINX = """daemon off; user root; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{}}
http {{ access_log off; sendfile on; tcp_nopush on;
  server {{ listen {rack}:8080; root {dir}/www; }} }}
"""


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


class Bench:
    """The lab: namespaces, region, rack services, vBMC; one timed boot at a time."""

    def __init__(self, lab: NetLab):
        self.lab, self.env = lab, dict(os.environ)
        self.ns = {name: lab.netns(name) for name in ("br", "region", "rack")}
        for index, (name, address) in enumerate([("region", REGION), ("rack", RACK)]):
            lab.veth(self.ns[name], "eth0", self.ns["br"], f"p{index}")
            lab.addr(self.ns[name], "eth0", f"{address}/24")
        lab.run(self.ns["br"], ["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"])
        lab.run(self.ns["br"], ["ip", "link", "set", "tap0", "up"])
        lab.bridge(self.ns["br"], "br0", ["p0", "p1", "tap0"])
        self.access_log = VAR / "access.log"

    def start(self, ns: str, args: list[str], log: str) -> subprocess.Popen:
        return self.lab.popen(self.ns[ns], args, cwd=ROOT, env=self.env,
                              stdout=open(VAR / log, "ab"), stderr=subprocess.STDOUT)

    def start_region_and_bmc(self) -> None:
        self.start("region", [sys.executable, "-m", "gunicorn", "maasproject.wsgi", "-b",
                              f"{REGION}:5240", "-w", "2", "--threads", "4",
                              "--access-logfile", str(self.access_log)], "region.log")
        qmp = Path(tempfile.mkdtemp(prefix="bq")) / "qmp.sock"
        command = QEMU.format(qemu=shutil.which("qemu-system-x86_64"), console=VAR / "console")
        config = VAR / "vbmc.json"
        config.write_text(f'{{"bmcs": [{{"port": {BMC_PORT}, "address": "127.0.0.1", '
                          f'"backend": "qemu", "qmp": "{qmp}", "command": "{command}"}}]}}')
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

    def timed_boot(self) -> tuple[float, dict[str, float]]:
        """Seconds from IPMI power-on to the VM's first metadata request in the access log,
        and when each console milestone appeared (seconds after power-on)."""
        offset = self.access_log.stat().st_size
        started = time.monotonic()
        console = ConsoleMilestones(VAR / "console", started)
        console.start()
        self.ipmi("on")

        def first_call() -> bool:
            with open(self.access_log) as handle:
                handle.seek(offset)
                return any("/api/v1/metadata/" in line
                           and line.split(" ", 1)[0] not in (REGION, RACK) for line in handle)

        wait_for(first_call, 240, poll=0.05)
        elapsed = time.monotonic() - started
        console.stop()
        self.ipmi("off")
        time.sleep(1)
        return elapsed, console.seen


# Console lines that mark the boot's phases, in order (the console has no timestamps: a thread
# notes when each first appears, polling every 50 ms).
MILESTONES = (("DHCP done (iPXE)", "Next server:"), ("lpxelinux running", "PXELINUX"),
              ("kernel loading", "/linux"), ("initrd loading", "/initrd.gz"),
              ("kernel started", "Linux version"), ("/init started", "metal: init started"),
              ("/init has a lease", "metal: dhcp address"))


class ConsoleMilestones(threading.Thread):
    """Notes when each milestone line first shows up on the VM's console."""

    def __init__(self, path: Path, started: float):
        super().__init__(daemon=True)
        self.path, self.started, self.done = path, started, threading.Event()
        self.offset = len(read(path))
        self.seen: dict[str, float] = {}

    def run(self) -> None:
        while not self.done.wait(0.05):
            text = read(self.path)
            if len(text) < self.offset:  # a new qemu started the console file afresh
                self.offset = 0
            text = text[self.offset:]
            for name, pattern in MILESTONES:
                if name not in self.seen and pattern in text:
                    self.seen[name] = time.monotonic() - self.started

    def stop(self) -> None:
        self.done.set()
        self.join(2)


def wait_for(check, timeout: float, poll: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout}s; logs in {VAR}")


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def baseline_files(cache: Path, params: str) -> Path:
    """TFTP root (Debian's lpxelinux.0 + ldlinux.c32, pxelinux.cfg/default) and nginx root."""
    tftp, www = VAR / "tftp", VAR / "www"
    (tftp / "pxelinux.cfg").mkdir(parents=True)
    www.mkdir()
    shutil.copy("/usr/lib/PXELINUX/lpxelinux.0", tftp)
    shutil.copy("/usr/lib/syslinux/modules/bios/ldlinux.c32", tftp)
    images = cache / "images/ephemeral/amd64"
    for name in ("linux", "initrd.gz"):
        shutil.copy(images / name, www / name)
    http = f"http://{RACK}:8080"
    (tftp / "pxelinux.cfg" / "default").write_text(
        f"DEFAULT boot\nLABEL boot\n  KERNEL {http}/linux\n  INITRD {http}/initrd.gz\n"
        f"  APPEND {params}\n")
    (VAR / "nginx.conf").write_text(NGINX.format(dir=VAR, rack=RACK))
    return tftp


def start_baseline(bench: Bench, tftp: Path) -> list[subprocess.Popen]:
    dnsmasq = bench.start("rack", [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=eth0",
        "--bind-interfaces", "--dhcp-range=10.99.0.100,10.99.0.199,12h", "--no-ping",
        "--dhcp-boot=lpxelinux.0", "--enable-tftp", f"--tftp-root={tftp}",
        f"--dhcp-leasefile={VAR}/dnsmasq.leases", f"--pid-file={VAR}/dnsmasq.pid",
        "--log-dhcp"], "dnsmasq.log")
    nginx = bench.start("rack", ["nginx", "-c", str(VAR / "nginx.conf"), "-p", str(VAR)],
                        "nginx.log")
    time.sleep(1.5)
    return [dnsmasq, nginx]


def start_ours(bench: Bench, credentials: Path, answer_rs: bool = True) -> list[subprocess.Popen]:
    log = VAR / "bootsvc.log"
    bench.env["BOOTSVC_ANSWER_ROUTER_SOLICITATIONS"] = str(answer_rs).lower()
    proc = bench.start("rack", [sys.executable, "-m", "bootsvc", "--region-url", REGION_URL,
                                "--credentials", str(credentials)], "bootsvc.log")
    wait_for(lambda: read(log).count("DHCP listening") > start_ours.seen, 60)
    start_ours.seen += 1
    return [proc]


start_ours.seen = 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--flush-tcp-metrics", action="store_true",
                        help="forget the kernel's cached TCP metrics (RTT) before every boot")
    args = parser.parse_args()
    ensure_packages()
    recreate_database(DB_URL)
    rack, token, params = seed()
    stop = threading.Event()
    threading.Thread(target=heartbeat, args=(rack, stop), daemon=True).start()
    credentials = VAR / "rack.json"
    credentials.write_text(f'{{"system_id": "{rack.system_id}", "token": "{token}"}}')
    variants = {
        "ours": lambda: start_ours(bench, credentials),
        # Same conditions as the baseline: iPXE waits for IPv6 routers there too.
        "ours-no-ra": lambda: start_ours(bench, credentials, answer_rs=False),
        "baseline": lambda: start_baseline(bench, tftp),
    }
    results = {name: [] for name in variants}
    phases = {name: [] for name in variants}
    with NetLab("bnb") as lab:
        bench = Bench(lab)
        bench.start_region_and_bmc()
        bench.env.update(VAR_DIR=str(VAR / "rack"))  # the rack's own state, not the region's
        tftp = baseline_files(bench.sync_rack_cache(credentials), params)
        for run in range(args.runs):
            for name, starter in variants.items():
                if args.flush_tcp_metrics:  # every boot as the first one to this address
                    lab.run(bench.ns["rack"], ["ip", "tcp_metrics", "flush", "all"])
                procs = starter()
                seconds, seen = bench.timed_boot()
                results[name].append(seconds)
                phases[name].append(seen)
                print(f"run {run + 1} {name}: {seconds:.2f} s {seen}", flush=True)
                for proc in procs:
                    lab.kill(proc)
        stop.set()
    report(results)
    report_phases(phases)


LABELS = {"ours": "ours (bootsvc)",
          "ours-no-ra": "ours, IPv6 router solicitations not answered",
          "baseline": "dnsmasq + nginx"}


def report(results: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(times) for name, times in results.items()}
    print(f"\n### Netboot: IPMI power-on → first metadata call ({time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, qemu TCG 512 MiB, Python "
          f"{platform.python_version()})\n")
    print("| stack | runs (s) | median s | / baseline |")
    print("|---|---|---|---|")
    for name, times in results.items():
        print(f"| {LABELS[name]} | {', '.join(f'{t:.1f}' for t in times)} | "
              f"{medians[name]:.1f} | {medians[name] / medians['baseline']:.2f} |")
    print(f"\ntarget: ours ≤ 1.1 × baseline; logs in {VAR}")


def report_phases(phases: dict[str, list[dict[str, float]]]) -> None:
    """Median time after power-on at which each console milestone appeared, per stack."""
    print("\n| milestone (s after power-on, median) | " + " | ".join(LABELS[n] for n in phases)
          + " |")
    print("|---|" + "---|" * len(phases))
    for name, _ in MILESTONES:
        cells = []
        for runs in phases.values():
            times = [seen[name] for seen in runs if name in seen]
            cells.append(f"{statistics.median(times):.1f}" if times else "–")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
