"""Simulated machines that netboot when their fake BMC powers them on (FAKE_POWER_STATE_DIR).

The rack worker's `fake` driver keeps each BMC's state in a locked JSON file; the fleet watches
those files. A machine boots when its BMC goes on with a PXE boot device (a one-time one is
consumed, as firmware does): it takes a DHCP lease from the rack API (with the rack's
credentials, as bootsvc's DHCP server would record it) when it has an address, asks the rack
API for its boot decision, and runs the simulated ephemeral environment (lab/sim/runner.py).
Powered off mid-job, its runner stops; power cycled, it boots again. While the fleet runs it
holds the state directory's simulator lock, so the driver can tell when no one simulates a
machine (power.drivers.fake.unattended_reason).
"""
import fcntl
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lab.sim import jobs
from lab.sim.client import Region
from lab.sim.runner import (
    boot_decision,
    kernel_params,
    rack_client,
    run_machine,
    summarise,
)
from power.drivers.fake import SIMULATOR_LOCK, locked_state, state_file_name

POLL_SECONDS = 0.1
RESCAN_SECONDS = 5.0  # re-read every state file now and then, whatever its mtime says
LEASE_SECONDS = 86400


class FleetBusy(Exception):
    """Another simulator holds the state directory's lock."""


def read_power_state(path: str) -> dict | None:
    """A fake BMC's state file, read under the driver's lock (None while it is being made)."""
    try:
        with open(path) as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            text = handle.read()
    except OSError:
        return None
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


@dataclass
class SimulatedMachine:
    """One machine of the fleet: its BMC's last state and its current boot."""

    fake_id: str
    mac: str
    address: str = ""  # the address its DHCP lease gives it ("": calls come from 127.0.0.1)
    mtime: int = 0
    power_ons: int = 0  # power_on calls seen in the BMC's log: one more while on is a cycle
    on: threading.Event = field(default_factory=threading.Event)
    boot: dict | None = None  # the current boot's record, until it has been written
    done: bool = False  # the current boot's runner ended
    again: dict | None = None  # the BMC state to boot with once the current boot has ended


class Fleet:
    """Simulated machines that netboot into the runner when their fake BMC powers them on."""

    def __init__(self, url: str, credentials: dict, bmcs: dict[str, str], power_dir: str, *,
                 records: str = "", concurrency: int = 0, script_seconds: float = 0.0,
                 fail: frozenset = frozenset(), addresses: dict[str, str] | None = None,
                 self_poweroff: bool = False):
        self.url, self.credentials, self.power_dir = url, credentials, power_dir
        addresses = addresses or {}
        self.machines = {state_file_name(fake_id): SimulatedMachine(
            fake_id, mac, addresses.get(fake_id, "")) for fake_id, mac in bmcs.items()}
        self.records_path, self.script_seconds, self.fail = records, script_seconds, fail
        self.self_poweroff = self_poweroff  # as `poweroff -f` after a job that says so
        self.pool = ThreadPoolExecutor(max_workers=concurrency or max(1, len(bmcs)))
        self.stopping = threading.Event()
        self.results: list[dict] = []
        self._lock = threading.Lock()
        self._attached = None

    def attach(self) -> None:
        """Take the state directory's simulator lock, listing the fake ids simulated here."""
        os.makedirs(self.power_dir, exist_ok=True)
        handle = open(os.path.join(self.power_dir, SIMULATOR_LOCK), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise FleetBusy(f"another simulator is attached to {self.power_dir}") from None
        handle.truncate(0)
        handle.write(json.dumps({"pid": os.getpid(), "fake_ids": sorted(
            m.fake_id for m in self.machines.values())}))
        handle.flush()
        self._attached = handle

    def power_on_new(self) -> list[str]:
        """Press the power button of each machine whose BMC has no state yet (first start):
        it netboots, and an unknown machine enlists. Their fake ids."""
        pressed = []
        for name, machine in self.machines.items():
            if not os.path.exists(os.path.join(self.power_dir, name)):
                with locked_state(self.power_dir, machine.fake_id) as state:
                    state.power_state, state.boot_device, state.boot_persistent = \
                        "on", "pxe", False
                pressed.append(machine.fake_id)
        return pressed

    def run(self, exit_after: int = 0, timeout: float = 0.0) -> dict:
        """Watch the BMCs until `exit_after` boots ended (0: until stopped) or the timeout."""
        if self._attached is None:
            self.attach()
        started, rescan = time.monotonic(), 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if timeout and now - started > timeout:
                break
            full = now - rescan >= RESCAN_SECONDS
            rescan = now if full else rescan
            self.scan(full)
            if exit_after and len(self.results) >= exit_after:
                break
            time.sleep(POLL_SECONDS)
        for machine in self.machines.values():
            machine.on.clear()  # a runner still going stops at its next call
        self.pool.shutdown(wait=True)
        for machine in self.machines.values():
            if machine.boot is not None and machine.done:
                self.write(machine)
        self._attached.close()  # releases the lock: the driver warns again
        return summarise(list(self.results), time.monotonic() - started)

    def scan(self, full: bool) -> None:
        with os.scandir(self.power_dir) as entries:
            for entry in entries:
                machine = self.machines.get(entry.name)
                if machine is None:
                    continue
                try:
                    mtime = entry.stat().st_mtime_ns
                except OSError:
                    continue
                if mtime != machine.mtime or full:
                    state = read_power_state(entry.path)
                    if state is not None:
                        machine.mtime = mtime
                        self.observe(machine, state)
        for machine in self.machines.values():
            if machine.done and not machine.on.is_set() and machine.boot is not None:
                self.write(machine)
            if machine.again is not None and machine.boot is None:
                state, machine.again = machine.again, None
                self.start_boot(machine, state)

    def observe(self, machine: SimulatedMachine, state: dict) -> None:
        """React to a BMC state: power on boots the machine, a cycle reboots it, off ends it."""
        powered = state.get("power_state") == "on"
        power_ons = sum(1 for call in state.get("calls", []) if call == "power_on")
        cycled = powered and machine.on.is_set() and power_ons > machine.power_ons
        machine.power_ons = power_ons
        if cycled:  # off and on again between two looks: this boot ends, the next one starts
            machine.on.clear()
            if machine.boot is not None:
                machine.boot["off_seen"] = time.time()
            machine.again = state
        elif powered and not machine.on.is_set() and machine.again is None:
            self.start_boot(machine, state)
        elif not powered:
            machine.again = None
            if not machine.on.is_set():
                return
            machine.on.clear()
            if machine.boot is not None:
                machine.boot["off_seen"] = time.time()

    def start_boot(self, machine: SimulatedMachine, state: dict) -> None:
        if machine.boot is not None:  # the previous boot is not written yet: boot after it
            machine.again = state
            return
        machine.on.set()
        machine.boot = {"fake_id": machine.fake_id, "mac": machine.mac,
                        "on_seen": time.time(), "boot_device": state.get("boot_device")}
        machine.done = False
        self.pool.submit(self.boot, machine, state)

    def boot(self, machine: SimulatedMachine, state: dict) -> None:
        """PXE (a lease, a boot decision from the rack API) and the ephemeral environment."""
        record = machine.boot
        try:
            if state.get("boot_device") == "pxe" and not state.get("boot_persistent", True):
                with locked_state(self.power_dir, machine.fake_id) as bmc:
                    bmc.boot_device, bmc.boot_persistent = "disk", True  # one-time: used now
            if record["boot_device"] != "pxe":
                record.update(ok=True, action="local")
                return
            self.netboot(machine, record)
        except Exception as exc:  # a simulated machine must not take the fleet down
            record.update(ok=False, interrupted=f"{type(exc).__name__}: {exc}")
        finally:
            machine.done = True

    def netboot(self, machine: SimulatedMachine, record: dict) -> None:
        rack = rack_client(self.url, self.credentials)
        if machine.address:
            self.lease(rack, machine)
        decision, asked = boot_decision(self.url, self.credentials, machine.mac)
        rack.requests += asked.requests
        rack.errors += asked.errors
        params = kernel_params(decision)
        record.update(action=decision.get("action"), system_id=decision.get("system_id"),
                      decided=time.time(), http_errors=rack.errors,
                      requests=rack.requests, ok=bool(decision))
        if decision.get("action") in ("local", "poweroff", None):
            return
        # As a real machine: the metadata API at metal.region, which need not be the URL the
        # rack asked (the rack listener serves no metadata).
        url = params.get("metal.region") or self.url
        summary = run_machine(url, params.get("metal.system_id", ""),
                              params.get("metal.token", ""), mac=machine.mac,
                              script_seconds=self.script_seconds, fail=self.fail,
                              powered=machine.on.is_set, source=machine.address)
        summary["http_errors"] = rack.errors + summary["http_errors"]
        summary["requests"] += rack.requests
        token = summary.pop("token", "")
        record.update(summary, job_ended=time.time())
        if summary.get("reboot") and machine.on.is_set():
            self.first_boot(machine, record, summary["system_id"], token, url)
        elif summary.get("poweroff") and self.self_poweroff:
            with locked_state(self.power_dir, machine.fake_id) as bmc:
                bmc.power_state = "off"

    def lease(self, rack: Region, machine: SimulatedMachine) -> None:
        """The DHCP lease bootsvc would give the machine, recorded through the rack API."""
        body = json.dumps({"leases": [{"mac": machine.mac, "ip": machine.address,
                                       "hostname": machine.fake_id, "state": "active",
                                       "expires": time.time() + LEASE_SECONDS}]})
        code, answer = rack.call("POST", "leases/", body.encode(),
                                 content_type="application/json")
        if code != 200:
            raise RuntimeError(f"the rack API refused the lease: {code} {answer[:200]!r}")

    def first_boot(self, machine: SimulatedMachine, record: dict, system_id: str,
                   token: str, url: str) -> None:
        """The deploy runner rebooted: the deployed OS boots from the disk and reports in."""
        region = Region(url, system_id, token, powered=machine.on.is_set,
                        source=machine.address)
        record["deployed"] = jobs.deployed_first_boot(region)
        record["ok"] = record["ok"] and record["deployed"]
        record["http_errors"] += region.errors
        record["requests"] += region.requests

    def write(self, machine: SimulatedMachine) -> None:
        record, machine.boot = machine.boot, None
        with self._lock:
            self.results.append(record)
            if self.records_path:
                with open(self.records_path, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
