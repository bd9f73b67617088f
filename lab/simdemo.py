"""`make demo SIMULATED=1` (python -m lab.demo --simulated): everything without hardware.

The region (web, worker, beat, as `make run` starts them), a local rack without boot services
(`rackd --no-with-bootsvc`: simulated machines send no DHCP or TFTP; they take their lease and
boot decision from the rack API with the rack's credentials, as bootsvc would, so nothing
needs root or opens a port beyond the region's) and the simulator (python -m lab.sim) with N
machines behind fake BMCs. No qemu, no root, no network namespaces. First start: the machines
power on, netboot, enlist and commission to Ready by themselves; then deploy and release them
through the API. Ctrl-C aborts unfinished jobs and stops everything.

Metadata tokens stay bound to leased addresses (METADATA_TOKEN_SOURCES=leases, the default):
each simulated machine calls from its own 127.0.99.x address, which the rack API recorded as
its DHCP lease.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab import region
from lab.api import Api, ApiError, api_key_from
from lab.sim import setup
from lab.sim.cli import fleet_bmcs

PROJECT_DIR = Path(__file__).resolve().parents[1]
RACK = "sim-rack"
PREFIX = "sim"
IN_PROGRESS = ("Commissioning", "Testing", "Deploying", "Disk erasing")


class Stack:
    """The demo's processes, each in its own session; logs in VAR_DIR/logs."""

    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.logs = var_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], **env: str) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=PROJECT_DIR, env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def exited(self) -> str:
        return next((name for name, proc in self.procs.items() if proc.poll() is not None), "")

    def stop(self) -> None:
        """Simulator first (its runners stop), the region last: SIGTERM to each leader (it
        stops its own children cleanly), then SIGKILL to whatever is left of its group."""
        for name in reversed(list(self.procs)):
            region.stop_group(self.procs[name])


def start_region(stack: Stack, port: int, web_workers: int) -> None:
    """Web, worker and beat as `make run` starts them."""
    stack.start("web", [sys.executable, "-m", "gunicorn", "maasproject.wsgi", "--bind",
                        f"127.0.0.1:{port}", "--workers", str(web_workers), "--backlog", "4096",
                        "--access-logfile", "-", "--logger-class",
                        "maasproject.accesslog.AccessLogger"])
    stack.start("worker", [sys.executable, "-m", "celery", "-A", "maasproject", "worker", "-Q",
                           "region", "-l", "info", "--hostname", f"sim-region-{os.getpid()}@%h"])
    stack.start("beat", [sys.executable, "-m", "celery", "-A", "maasproject", "beat", "-l",
                         "info"])
    region.wait_for_web(port, 120, lambda: stack.exited() == "")


def start_rack(stack: Stack, api: Api, port: int) -> Path:
    """The local rack (no boot services); its credentials once it is registered."""
    region.rack_secret(PROJECT_DIR)  # made on first use, read by rackd from its 0600 file
    stack.start("rack", [sys.executable, "-m", "rack_worker.rackd", "--secret-file",
                         str(stack.var_dir / "rack_secret"), "--region-url",
                         f"http://127.0.0.1:{port}/", "--name", RACK, "--no-with-bootsvc"],
                FAKE_POWER_STATE_DIR=str(stack.var_dir / "fake-power"))
    api.wait_for(f"racks/?name={RACK}", lambda racks: racks and racks[0]["status"] == "running",
                 120, lambda: f"(rack log: {stack.logs / 'rack.log'})")
    return stack.var_dir / "rack" / "credentials.json"


def start_simulator(stack: Stack, port: int, credentials: Path, bmcs: dict[str, str],
                    unknown: list[str]) -> None:
    """The fleet; machines the region does not know power on (fresh BMCs) and enlist."""
    power_dir = stack.var_dir / "fake-power"
    for fake_id in unknown:  # a BMC left from a run that stopped before enlistment
        (power_dir / f"{fake_id}.json").unlink(missing_ok=True)
    stack.start("simulator", [
        sys.executable, "-m", "lab.sim", "--region", f"http://127.0.0.1:{port}/",
        "--power-dir", str(power_dir), "--count", str(len(bmcs)), "--prefix", PREFIX,
        "--power-on-new", "--lease-network", setup.SIM_NETWORK, "--rack-credentials",
        str(credentials), "--records", str(stack.logs / "boots.jsonl")])


def abort_unfinished(api: Api, bmcs: dict[str, str], reason: str) -> list[str]:
    """Abort the simulated machines whose job is in progress (the reason in the event)."""
    aborted = []
    for machine in setup.machines_by_mac(api, bmcs).values():
        if machine["status_name"] in IN_PROGRESS:
            api.post(f"machines/{machine['system_id']}/abort/", {"comment": reason})
            aborted.append(machine["system_id"])
    return aborted


def wait_enlisted(api: Api, stack: Stack, bmcs: dict[str, str], timeout: float) -> list[dict]:
    """Every simulated machine known to the region, with its fake BMC set."""
    done: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(done) < len(bmcs):
        if stack.exited():
            raise RuntimeError(f"{stack.exited()} exited (logs in {stack.logs})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(bmcs) - len(done)} machine(s) did not enlist within "
                               f"{timeout:.0f}s (logs in {stack.logs})")
        for machine in setup.set_fake_bmcs(api, bmcs, done):
            print(f"  {machine['hostname']} ({machine['system_id']}): "
                  f"{machine['status_name']}, power type {machine['power_type']}", flush=True)
        time.sleep(1)
    return sorted(setup.machines_by_mac(api, bmcs).values(), key=lambda m: m["hostname"])


def wait_settled(api: Api, stack: Stack, bmcs: dict[str, str], timeout: float) -> list[dict]:
    """The simulated machines once none is commissioning (enlistment commissions them) and
    the power off that ends commissioning is recorded."""
    deadline = time.monotonic() + timeout
    while True:
        machines = sorted(setup.machines_by_mac(api, bmcs).values(), key=lambda m: m["hostname"])
        if not any(m["status_name"] in ("Commissioning", "Testing")
                   or m["power_state"] == "unknown" for m in machines):
            return machines
        if stack.exited() or time.monotonic() > deadline:
            raise RuntimeError(f"machines still commissioning after {timeout:.0f}s, or "
                               f"{stack.exited() or 'nothing'} exited (logs in {stack.logs})")
        time.sleep(1)


def print_next_steps(machines: list[dict], var_dir: Path, port: int, logs: Path) -> None:
    api = f"http://127.0.0.1:{port}/api/v1"
    print("\nSimulated machines (fake BMCs run by python -m lab.sim; no qemu, nothing boots for "
          "real):")
    for machine in machines:
        print(f"  {machine['hostname']} {machine['system_id']} {machine['status_name']}, "
              f"power {machine['power_state']}")
    ready = [m for m in machines if m["status_name"] == "Ready"] or machines
    sid = ready[0]["system_id"] if ready else "SYSTEM_ID"
    print(f"""
Try:
  KEY=$(sed -n 's/^API key: //p' {var_dir / 'admin-credentials'})
  H="Authorization: Bearer $KEY"
  curl -H "$H" {api}/machines/
  curl -H "$H" -X POST {api}/machines/{sid}/deploy/        # Deploying, then Deployed
  curl -H "$H" "{api}/events/?machine={sid}"                # its timeline
  curl -H "$H" -H "Content-Type: application/json" -d '{{"erase": true, "erase_mode": "quick"}}' \\
       {api}/machines/{sid}/release/                         # erase, then Ready
  curl -H "$H" -X POST {api}/machines/{sid}/commission/    # again, from Ready
Logs: {logs} (boots.jsonl: one line per simulated boot). Ctrl-C stops everything.""",
          flush=True)


def stop_jobs(api: Api, bmcs: dict[str, str]) -> None:
    """Before the simulator goes: abort its machines' jobs, so that the next start can act."""
    try:
        aborted = abort_unfinished(api, bmcs, "make demo stopped: its simulator is gone")
    except (OSError, ValueError, ApiError) as exc:  # region gone: the next start aborts
        print(f"Could not abort the machines' jobs ({exc}); the next make demo will.")
        return
    if aborted:
        print(f"Aborted the jobs of {', '.join(aborted)}.", flush=True)


def main(args) -> int:
    """Start it all, enlist and commission the machines, wait for Ctrl-C, stop it all."""
    var_dir = Path(os.environ.get("VAR_DIR") or PROJECT_DIR / "var")
    bmcs, stack, api, stop = fleet_bmcs(args.vms, PREFIX), Stack(var_dir), None, []
    try:
        start_region(stack, args.port, args.web_workers)
        api = Api(f"http://127.0.0.1:{args.port}", api_key_from(var_dir / "admin-credentials"))
        setup.configure_network(api)
        setup.ensure_image(api)
        credentials = start_rack(stack, api, args.port)
        abort_unfinished(api, bmcs, "an earlier make demo stopped without cleaning up: its "
                         "simulator was gone")
        known = setup.machines_by_mac(api, bmcs)
        start_simulator(stack, args.port, credentials, bmcs, [f for f in bmcs if f not in known])
        print(f"Region on http://127.0.0.1:{args.port}/, rack {RACK}, {len(bmcs)} simulated "
              "machine(s); waiting for them to enlist and commission...", flush=True)
        wait_enlisted(api, stack, bmcs, args.timeout)
        print_next_steps(wait_settled(api, stack, bmcs, args.timeout), var_dir, args.port,
                         stack.logs)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda sig, _: stop.append(sig))
        while not stop and not stack.exited():
            time.sleep(0.5)
        if not stop:
            print(f"{stack.exited()} exited; stopping (logs in {stack.logs}).", file=sys.stderr)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # make passes Ctrl-C on too
            signal.signal(signum, signal.SIG_IGN)
        print("Stopping the simulator, the rack and the region...", flush=True)
        if api is not None:
            stop_jobs(api, bmcs)
        stack.stop()
    return 0 if stop else 1
