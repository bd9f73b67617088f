"""The lab: namespaces on a bridge, the portal to the region, VMs with BMCs, racks.

    lab = Lab(LabConfig(state_dir, vms=2, racks=1, rack_secret=secret))
    lab.up()            # or step by step: network, portals, bmcs, [region], racks
    ...
    lab.down()

Layout (10.99.0.0/24, no link to the root namespace): `<prefix>-br` holds the bridge with the
region's lab address (10.99.0.1, the portal listens there), the BMC addresses (10.99.0.50+i),
the VMs' taps, the vBMC process and qemu; `<prefix>-rackN` holds rack N (10.99.0.1+N).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lab import cleanup, netns, region
from lab.rack import Rack
from lab.state import MARKER, LabState
from lab.vm import BMC_PASSWORD, BMC_USER, VM, mac_for

PROJECT_DIR = Path(__file__).resolve().parents[1]
NETWORK = "10.99.0.0/24"
REGION_IP = "10.99.0.1"
REGION_URL = f"http://{REGION_IP}:5240/"
DYNAMIC_RANGE = ("10.99.0.100", "10.99.0.199")
BROKER_PORT = 6379  # the broker's port on the lab side, whatever it is in the root namespace


class LabBusy(Exception):
    """The lab (same state dir) is already up, or left over: `lab down` first."""


@dataclass
class LabConfig:
    """What to build; `env` is the base environment of every process the lab starts."""

    state_dir: Path
    vms: int = 1
    racks: int = 1
    memory: int = 512
    # lab.vm.FIRMWARES: of every VM, or one per VM (a tuple).
    firmware: str | tuple[str, ...] = "bios"
    disk_gib: int = 4
    region_port: int = 5240
    broker_url: str = ""
    broker_dir: str = ""
    rack_secret: str = ""
    name: str = "lab"
    env: dict = field(default_factory=lambda: dict(os.environ))


class Lab:
    """One lab: build with up() (or its steps), tear down with down()."""

    def __init__(self, config: LabConfig):
        self.config = config
        self.state = LabState(config.state_dir)
        self.prefix = self.state.prefix
        self.bridge_ns = f"{self.prefix}-br"
        self.bridge = f"{self.prefix}br"
        self.region_url = REGION_URL
        self.processes: dict[str, subprocess.Popen] = {}
        self.vms = [self._vm(i) for i in range(config.vms)]
        self.racks = [self._rack(i) for i in range(config.racks)]

    def _vm(self, index: int) -> VM:
        directory = self.state.vms_dir / f"vm{index + 1}"
        return VM(name=f"{self.config.name}-vm{index + 1}", mac=mac_for(index),
                  bmc_address=f"10.99.0.{50 + index}", bmc_port=623, bmc_user=BMC_USER,
                  bmc_password=BMC_PASSWORD, console=str(directory / "console.log"),
                  disk=str(directory / "disk.img"),
                  qmp=str(self.state.runtime_dir / f"vm{index + 1}.qmp"),
                  tap=f"{self.prefix}t{index + 1}", netns=self.bridge_ns,
                  memory=self.config.memory, firmware=self.firmware_of(index))

    def firmware_of(self, index: int) -> str:
        firmware = self.config.firmware
        return firmware if isinstance(firmware, str) else firmware[index]

    def _rack(self, index: int) -> Rack:
        name = f"{self.config.name}-rack{index + 1}"
        return Rack(name=name, netns=f"{self.prefix}-rack{index + 1}",
                    address=f"10.99.0.{index + 2}",
                    var_dir=str(self.state.racks_dir / f"rack{index + 1}"),
                    log=str(self.log(name)))

    # Building ---------------------------------------------------------------------------

    def up(self) -> "Lab":
        """Everything but the region (it runs elsewhere, e.g. `make demo`)."""
        self.prepare()
        self.start_network()
        self.start_portals()
        self.start_bmcs()
        self.start_racks()
        self.state.set(phase="up")
        return self

    def prepare(self) -> None:
        """Refuse a lab that is up; clear what a crashed one left; write the state file."""
        if netns.namespaces(self.prefix) or LabState.load(self.state.dir).live_processes():
            raise LabBusy(f"a lab is already up in {self.state.dir} ({self.prefix}-*): "
                          f"run `python -m lab down --state-dir {self.state.dir}` first")
        cleanup.down(self.state.dir, purge=True)  # old consoles would match new waits
        self.state.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.state.logs_dir.mkdir(parents=True, exist_ok=True)
        self.state.set(phase="starting", region_url=self.region_url, name=self.config.name,
                       vms=[vm.to_dict() for vm in self.vms],
                       racks=[rack.to_dict() for rack in self.racks])

    def _netns(self, name: str) -> None:
        self.state.add_namespace(name)  # recorded first: a crash right after still gets cleaned
        netns.ip("netns", "add", name)
        netns.ip("-n", name, "link", "set", "lo", "up")

    def start_network(self) -> None:
        """The bridge namespace (region and BMC addresses, taps) and one namespace per rack."""
        ns, bridge = self.bridge_ns, self.bridge
        self._netns(ns)
        netns.ip("-n", ns, "link", "add", bridge, "type", "bridge")
        netns.ip("-n", ns, "link", "set", bridge, "up")
        for address in [REGION_IP] + [vm.bmc_address for vm in self.vms]:
            netns.ip("-n", ns, "addr", "add", f"{address}/24", "dev", bridge)
        for vm in self.vms:
            netns.ip("-n", ns, "tuntap", "add", "dev", vm.tap, "mode", "tap")
            netns.ip("-n", ns, "link", "set", vm.tap, "master", bridge, "up")
        for index, rack in enumerate(self.racks, 1):
            self._netns(rack.netns)
            port = f"{self.prefix}r{index}"
            netns.ip("-n", ns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                     "netns", rack.netns)
            netns.ip("-n", ns, "link", "set", port, "master", bridge, "up")
            netns.ip("-n", rack.netns, "addr", "add", f"{rack.address}/24", "dev", "eth0")
            netns.ip("-n", rack.netns, "link", "set", "eth0", "up")

    def spawn(self, name: str, argv: list[str], netns_name: str | None = None,
              env: dict | None = None) -> subprocess.Popen:
        """Start argv (in netns_name) in its own process group, recorded, output to logs/."""
        record = self.state.add_process(name, argv, netns_name)
        command = ["ip", "netns", "exec", netns_name, *argv] if netns_name else argv
        environment = {**(env or self.config.env), MARKER: str(self.state.dir),
                       "PYTHONUNBUFFERED": "1"}
        with open(self.log(name), "ab") as log:
            process = subprocess.Popen(command, cwd=PROJECT_DIR, env=environment, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self.state.started(record, process.pid)
        self.processes[name] = process
        return process

    def log(self, name: str) -> Path:
        return self.state.logs_dir / f"{name}.log"

    def wait_for_log(self, name: str, text: str, timeout: float = 30) -> None:
        """Wait until process `name` logs text; raise with its log if it exits or times out."""
        deadline, path = time.monotonic() + timeout, self.log(name)
        while text not in path.read_text(errors="replace"):
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not log {text!r}:\n"
                                   f"{path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def broker_forward(self) -> tuple[str, str] | None:
        """(root-namespace host:port, lab-side URL) of a network broker; None for filesystem."""
        url = self.config.broker_url
        if not url or url.startswith("filesystem:"):
            return None
        parts = urlsplit(url)
        auth = parts.netloc.rpartition("@")[0]
        lab_netloc = (auth + "@" if auth else "") + f"{REGION_IP}:{BROKER_PORT}"
        target = f"{parts.hostname or '127.0.0.1'}:{parts.port or BROKER_PORT}"
        return target, urlunsplit(parts._replace(netloc=lab_netloc))

    def start_portals(self) -> None:
        """Region (and broker) addresses in the lab, forwarded to the root namespace."""
        run = self.state.runtime_dir
        outside = [f"unix:{run}/region.sock=tcp:127.0.0.1:{self.config.region_port}"]
        inside = [f"tcp:{REGION_IP}:5240=unix:{run}/region.sock+proxy"]
        broker = self.broker_forward()
        if broker:
            outside.append(f"unix:{run}/broker.sock=tcp:{broker[0]}")
            inside.append(f"tcp:{REGION_IP}:{BROKER_PORT}=unix:{run}/broker.sock")
        portal = [sys.executable, "-m", "lab.portal"]
        self.spawn("portal-root", portal + outside)
        self.wait_for_log("portal-root", "portal ready")
        self.spawn("portal-lab", portal + inside, self.bridge_ns)
        self.wait_for_log("portal-lab", "portal ready")

    def start_bmcs(self) -> None:
        """One vBMC process for every VM's BMC (each VM off until powered on)."""
        if not self.vms:
            return
        qemu = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
        for vm in self.vms:
            vm.create_disk(self.config.disk_gib)
        config = self.state.dir / "vbmc.json"
        config.write_text(json.dumps({"bmcs": [vm.bmc_spec(qemu) for vm in self.vms]}))
        self.spawn("vbmc", [sys.executable, "-m", "lab.vbmc", "--config", str(config)],
                   self.bridge_ns)
        self.wait_for_log("vbmc", '"ready"')

    def rack_env(self, rack: Rack) -> dict:
        env = {**self.config.env, "VAR_DIR": rack.var_dir}
        broker = self.broker_forward()
        if broker:
            env["CELERY_BROKER_URL"] = broker[1]
        else:  # the filesystem broker: the region's folders, shared through the filesystem
            env.pop("CELERY_BROKER_URL", None)
            env["CELERY_BROKER_DIR"] = self.config.broker_dir
        return env

    def start_racks(self) -> None:
        for rack in self.racks:
            self.start_rack(rack)

    def start_rack(self, rack: Rack) -> None:
        """rackd: registers with the rack secret (or its saved token), then runs its children."""
        Path(rack.var_dir).mkdir(parents=True, exist_ok=True)
        # The secret goes in a 0600 file, never rackd's argv or environment.
        secret_file = Path(rack.var_dir) / "rack_secret"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.config.rack_secret)
        argv = [*rack.rackd_argv(self.region_url), "--secret-file", str(secret_file)]
        self.spawn(rack.name, argv, rack.netns, self.rack_env(rack))

    def reset_rack(self, rack: Rack) -> None:
        """Stop rackd and forget its token, leases and cache: the next start registers anew."""
        self.stop_process(rack.name)
        shutil.rmtree(rack.var_dir, ignore_errors=True)

    def sync_images(self, rack: Rack, timeout: float = 120):
        """One image-cache sync of rack now (CompletedProcess)."""
        return rack.sync_images(self.region_url, self.rack_env(rack), timeout)

    def run_in(self, netns_name: str, argv: list[str], timeout: float = 60):
        """Run argv to completion inside a lab namespace (text output captured)."""
        return subprocess.run(["ip", "netns", "exec", netns_name, *argv], cwd=PROJECT_DIR,
                              capture_output=True, text=True, timeout=timeout)

    def stop_process(self, name: str, timeout: float = 15) -> None:
        """SIGTERM a process group started by spawn() (SIGKILL if it lingers)."""
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    # The region (tests and `make demo` start it; `lab up` expects one on region_port) -------

    def start_region(self, env: dict, worker: bool = True, beat: bool = False,
                     web_workers: int = 1) -> None:
        """gunicorn (+ region worker, beat) on 127.0.0.1:region_port, in the root namespace."""
        access = str(self.log("region-access"))
        web = self.spawn("region-web", region.web_argv(self.config.region_port, access,
                                                       web_workers), env=env)
        if worker:
            self.spawn("region-worker", region.worker_argv(f"{self.config.name}-region"),
                       env=env)
        if beat:
            self.spawn("region-beat", region.beat_argv(), env=env)
        region.wait_for_web(self.config.region_port, alive=lambda: web.poll() is None)

    # Teardown and reporting ---------------------------------------------------------------

    def down(self, purge: bool = False) -> dict:
        for process in self.processes.values():
            process.poll()  # reap what already exited
        result = cleanup.down(self.state.dir, purge=purge)
        for process in self.processes.values():
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        return result

    def logs_tail(self, chars: int = 3000) -> str:
        """The end of every log and console, for failure messages."""
        paths = sorted(self.state.logs_dir.glob("*.log")) + [vm.console_log for vm in self.vms]
        return "\n".join(f"--- {path}\n{path.read_text(errors='replace')[-chars:]}"
                         for path in paths if path.exists())

    def describe(self) -> str:
        return describe(self.state.dir, self.region_url, self.vms, self.racks,
                        self.config.region_port)


def describe(state_dir, region_url: str, vms: list[VM], racks: list[Rack],
             region_port: int | None = None) -> str:
    """What `lab up` prints: the region URL, each VM with its BMC, each rack."""
    root = f" (forwarded to 127.0.0.1:{region_port})" if region_port else ""
    lines = [f"Lab in {state_dir}", f"  region URL (from inside the lab): {region_url}{root}"]
    for vm in vms:
        lines += [f"  {vm.name}: MAC {vm.mac}, {vm.memory} MiB, disk {vm.disk}",
                  f"    BMC ipmi {vm.bmc_address}:{vm.bmc_port} user {vm.bmc_user} "
                  f"password {vm.bmc_password}", f"    console {vm.console}"]
    for rack in racks:
        lines.append(f"  rack {rack.name}: {rack.address} in namespace {rack.netns}")
    return "\n".join(lines)
