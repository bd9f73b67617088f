"""Play the ephemeral environment's job runner over the real metadata API for many machines.

Each machine does what nodes/metadata/runner.sh does, minus running anything: fetch its job as
JSON, heartbeat, then for each script (consecutive ones whose `parallel` is not `disabled`
together, as the runner does) download it, start, upload its outputs and finish; report the
job's end, and fetch the next job in the same "boot" (commissioning then testing) until told to
power off. Built-in inventory scripts get realistic output in the format nodes/scripts/output.py
parses, so the region's inventory code runs for real.

Which machines run:
- at once: --machine SYSTEM_ID:TOKEN ..., --machines-file FILE, or --rack-credentials with
  --macs-file (each MAC's boot decision carries metal.system_id and metal.token on its kernel
  command line, as bootsvc would render it);
- as their fake BMCs power them on: --power-dir DIR (the fake driver's FAKE_POWER_STATE_DIR,
  shared with the rack worker), --rack-credentials and --bmcs-file (lines `FAKE_ID MAC`). A
  machine boots when its BMC goes on with a PXE boot device: it asks the rack API for its boot
  decision with the rack's credentials (as bootsvc does), runs its job, and is off again when
  the region powers it off through the rack; powered off mid-job, its runner stops. One JSON
  line per boot goes to --records; the process ends after --exit-after boots, at --timeout or
  at SIGTERM.

Usage: .venv/bin/python bench/fake_runner.py --region http://127.0.0.1:5240/ MACHINES...
           [--concurrency 64] [--script-seconds 0] [--fail SCRIPT_NAME ...]
Prints one JSON summary line (machines, jobs, failures, http_errors, seconds).
"""
import argparse
import fcntl
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# As nodes/metadata/runner.sh: 5 attempts, pausing 1, 2, 3, 4 s; busybox wget's default
# network timeout (900 s: the runner passes no -T).
RETRIES = 5
HTTP_TIMEOUT = 900.0
POLL_SECONDS = 0.1
RESCAN_SECONDS = 5.0  # re-read every state file now and then, whatever its mtime says


class MachineOff(Exception):
    """The machine's BMC powered it off: its runner stops where it is."""


class Region:
    """A tiny HTTP client for the metadata API with one machine's credentials.

    It counts its requests and keeps the HTTP errors it met (4xx/5xx answers and network
    errors, retried ones included).
    """

    def __init__(self, url: str, system_id: str = "", token: str = "", *,
                 powered=None, auth: str = "", api: str = "api/v1/metadata/",
                 timeout: float = HTTP_TIMEOUT):
        self.api = url.rstrip("/") + "/" + api
        self.timeout = timeout
        self.auth = auth or (f"Machine {system_id}:{token}" if token else "")
        self.powered = powered  # callable: False once the machine is off
        self.requests = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def _note(self, error: str = "") -> None:
        with self._lock:
            self.requests += 1
            if error:
                self.errors.append(error)

    def call(self, method: str, path: str, data: bytes | None = None,
             accept: str = "") -> tuple[int, bytes]:
        """(status, body); network errors and 5xx are retried, 4xx returned."""
        headers = {"Authorization": self.auth} if self.auth else {}
        if accept:
            headers["Accept"] = accept
        where = f"{method} {path.split('?')[0]}"
        for attempt in range(RETRIES):
            if self.powered is not None and not self.powered():
                raise MachineOff(where)
            request = urllib.request.Request(self.api + path, data=data, method=method,
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
                self._note()
                return response.status, body
            except urllib.error.HTTPError as exc:
                self._note(f"{where}: {exc.code}")
                if exc.code < 500 or attempt == RETRIES - 1:
                    return exc.code, exc.read()
            except OSError as exc:
                self._note(f"{where}: {type(exc).__name__}: {exc}")
                if attempt == RETRIES - 1:
                    raise
            time.sleep(attempt + 1)
        raise AssertionError("unreachable")

    def post(self, path: str, fields: dict | None = None, body: bytes | None = None) -> int:
        data = body if body is not None else urllib.parse.urlencode(fields or {}).encode()
        return self.call("POST", path, data)[0]


def fake_outputs(mac: str = "", seed: str = "") -> dict[str, str]:
    """Plausible stdout of each built-in script (nodes/scripts/builtin) for one machine.

    The boot NIC reports `mac`; a second NIC gets the same address with a locally
    administered first octet (02), so fleets with distinct boot MACs stay distinct.
    """
    serial = f"{zlib.crc32((seed or mac).encode()):08X}"
    disks = [("sda", 480103981056, 0, "SAMSUNG MZ7LH480", f"S4{serial}", "ata-SAMSUNG_MZ7LH480"),
             ("sdb", 4000787030016, 1, "ST4000NM0035", f"ZC{serial}", "ata-ST4000NM0035")]
    nics = []
    if mac:
        nics = [("eno1", mac, "ixgbe", 10000, "up"),
                ("eno2", "02:" + mac.split(":", 1)[1], "ixgbe", 0, "down")]
    return {
        "10-cpu": "cpu_count=8\ncpu_model=Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n"
                  "cpu_speed=3900\narch=amd64\n",
        "10-memory": "memory_mib=16384\n",
        "20-block-devices": "".join(
            f"name={name}\tsize={size}\tblock_size=512\tmodel={model}\tserial={sn}\t"
            f"id_path=/dev/disk/by-id/{by_id}_{sn}\trotational={rotational}\n"
            for name, size, rotational, model, sn, by_id in disks),
        "20-network": "".join(f"name={name}\tmac={nic_mac}\tdriver={driver}\tspeed={speed}\t"
                              f"link={link}\n" for name, nic_mac, driver, speed, link in nics),
        "30-bmc": "bmc=present\tsource=/dev/ipmi0\n",
        "30-dmi": f"vendor=Dell Inc.\nproduct=PowerEdge R640\nserial={serial}\n"
                  "bios_vendor=Dell Inc.\n",
    }


def run_script(region: Region, script: dict, seconds: float, fail: frozenset,
               outputs: dict[str, str] | None = None) -> bool:
    """One script: download, start, outputs and finish; whether every call was accepted."""
    rid, name = script["id"], script["name"]
    codes = [region.call("GET", f"scripts/{rid}/")[0], region.post(f"results/{rid}/start/")]
    time.sleep(seconds)
    stdout = (outputs or fake_outputs()).get(name, f"{name} ok\n").encode()
    for stream, body in (("stdout", stdout), ("stderr", b""), ("combined", stdout)):
        codes.append(region.post(f"results/{rid}/output/?stream={stream}", body=body))
    exit_status = 1 if name in fail else 0
    codes.append(region.post(f"results/{rid}/finish/", {
        "exit_status": exit_status, "runtime": f"{seconds:.2f}", "timed_out": 0}))
    return all(code == 200 for code in codes)


def batches(scripts: list[dict]) -> list[list[dict]]:
    """Consecutive scripts that may run together (runner.sh's rule), in name order."""
    groups: list[list[dict]] = []
    for script in scripts:
        if script.get("parallel", "disabled") == "disabled" or not groups or \
                groups[-1][-1].get("parallel", "disabled") == "disabled":
            groups.append([script])
        else:
            groups[-1].append(script)
    return groups


def run_batch(region: Region, batch: list[dict], seconds: float, fail: frozenset,
              outputs: dict[str, str]) -> bool:
    if len(batch) == 1:
        return run_script(region, batch[0], seconds, fail, outputs)
    with ThreadPoolExecutor(max_workers=len(batch)) as pool:
        return all(list(pool.map(lambda s: run_script(region, s, seconds, fail, outputs),
                                 batch)))


def run_machine(url: str, system_id: str, token: str, *, mac: str = "",
                script_seconds: float = 0.0, fail: frozenset = frozenset(),
                powered=None) -> dict:
    """Every job of one machine in one boot; a summary of what happened."""
    region, started = Region(url, system_id, token, powered=powered), time.monotonic()
    outputs = fake_outputs(mac, system_id)
    summary = {"system_id": system_id, "jobs": [], "ok": True, "poweroff": False}
    try:
        while True:
            code, body = region.call("GET", "job/", accept="application/json")
            if code != 200:
                summary["ok"] = summary["ok"] and bool(summary["jobs"])
                break
            job = json.loads(body)
            summary["jobs"].append(job["job"])
            region.post("heartbeat/")
            beat = time.monotonic()
            for batch in batches(job["scripts"]):
                if time.monotonic() - beat >= job.get("heartbeat_interval", 30):
                    region.post("heartbeat/")
                    beat = time.monotonic()
                summary["ok"] &= run_batch(region, batch, script_seconds, fail, outputs)
            code, body = region.call("POST", "status/", b"status=ok&message=")
            if code != 200 or b"poweroff=1" in body:
                summary["poweroff"] = code == 200
                summary["ok"] &= code == 200
                break
    except MachineOff as exc:
        summary["ok"], summary["interrupted"] = False, f"powered off during {exc}"
    except OSError as exc:
        summary["ok"], summary["interrupted"] = False, f"{type(exc).__name__}: {exc}"
    summary["seconds"] = round(time.monotonic() - started, 3)
    summary["requests"], summary["http_errors"] = region.requests, region.errors
    return summary


def boot_decision(url: str, credentials: dict, mac: str) -> tuple[dict, Region]:
    """The rack API's boot decision for a MAC (with the rack's credentials, as bootsvc asks)."""
    rack = Region(url, auth=f"Rack {credentials['system_id']}:{credentials['token']}",
                  api="api/v1/rack/")
    code, body = rack.call("GET", f"boot/{mac.replace(':', '-')}/")
    return (json.loads(body) if code == 200 else {}), rack


def kernel_params(decision: dict) -> dict[str, str]:
    return dict(p.split("=", 1) for p in decision.get("kernel_params", "").split() if "=" in p)


def machines_from_boot_decisions(url: str, credentials: dict, macs: list[str]) -> list[tuple]:
    """(system_id, token, mac) of each MAC's boot decision, as the rack would render it."""
    found = []
    for mac in macs:
        params = kernel_params(boot_decision(url, credentials, mac)[0])
        if params.get("metal.token"):
            found.append((params["metal.system_id"], params["metal.token"], mac))
    return found


def run_all(url: str, machines: list[tuple], *, concurrency: int = 64,
            script_seconds: float = 0.0, fail: frozenset = frozenset()) -> dict:
    """Run every machine (system_id, token[, mac]) concurrently; the summary of the run."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(lambda m: run_machine(
            url, m[0], m[1], mac=m[2] if len(m) > 2 else "", script_seconds=script_seconds,
            fail=fail), machines))
    return summarise(results, time.monotonic() - started)


def summarise(results: list[dict], seconds: float) -> dict:
    errors = [error for r in results for error in r.get("http_errors", [])]
    return {"machines": len(results), "jobs": sum(len(r.get("jobs", [])) for r in results),
            "failures": [r.get("system_id") or r.get("mac") for r in results if not r["ok"]],
            "requests": sum(r.get("requests", 0) for r in results),
            "http_errors": len(errors), "http_error_samples": errors[:20],
            "seconds": round(seconds, 3), "results": results}


# Machines that boot when their fake BMC powers them on ------------------------------------
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


def state_file_name(fake_id: str) -> str:
    """The fake driver's file name for a fake id (power/drivers/fake.py)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in fake_id) + ".json"


@dataclass
class SimulatedMachine:
    """One machine of the fleet: its BMC's last state and its current boot."""

    fake_id: str
    mac: str
    mtime: int = 0
    on: threading.Event = field(default_factory=threading.Event)
    boot: dict | None = None  # the current boot's record, until it has been written
    done: bool = False  # the current boot's runner ended


class Fleet:
    """Simulated machines that netboot into the runner when their fake BMC powers them on."""

    def __init__(self, url: str, credentials: dict, bmcs: dict[str, str], power_dir: str, *,
                 records: str = "", concurrency: int = 0, script_seconds: float = 0.0,
                 fail: frozenset = frozenset()):
        self.url, self.credentials, self.power_dir = url, credentials, power_dir
        self.machines = {state_file_name(fake_id): SimulatedMachine(fake_id, mac)
                         for fake_id, mac in bmcs.items()}
        self.records_path, self.script_seconds, self.fail = records, script_seconds, fail
        self.pool = ThreadPoolExecutor(max_workers=concurrency or max(1, len(bmcs)))
        self.stopping = threading.Event()
        self.results: list[dict] = []
        self._lock = threading.Lock()

    def run(self, exit_after: int = 0, timeout: float = 0.0) -> dict:
        """Watch the BMCs until `exit_after` boots ended (0: until stopped) or the timeout."""
        os.makedirs(self.power_dir, exist_ok=True)
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

    def observe(self, machine: SimulatedMachine, state: dict) -> None:
        """React to a BMC state: power on boots the machine; power off ends the boot."""
        powered = state.get("power_state") == "on"
        if powered and not machine.on.is_set():
            machine.on.set()
            if machine.boot is None:
                machine.boot = {"fake_id": machine.fake_id, "mac": machine.mac,
                                "on_seen": time.time(), "boot_device": state.get("boot_device")}
                machine.done = False
                self.pool.submit(self.boot, machine)
        elif not powered and machine.on.is_set():
            machine.on.clear()
            if machine.boot is not None:
                machine.boot["off_seen"] = time.time()

    def boot(self, machine: SimulatedMachine) -> None:
        """PXE (a boot decision from the rack API) and, in the ephemeral environment, the job."""
        record = machine.boot
        try:
            if record["boot_device"] != "pxe":
                record.update(ok=True, action="local")
                return
            decision, rack = boot_decision(self.url, self.credentials, machine.mac)
            params = kernel_params(decision)
            record.update(action=decision.get("action"), system_id=decision.get("system_id"),
                          decided=time.time(), http_errors=rack.errors,
                          requests=rack.requests, ok=bool(decision))
            if params.get("metal.token"):
                summary = run_machine(self.url, params["metal.system_id"], params["metal.token"],
                                      mac=machine.mac, script_seconds=self.script_seconds,
                                      fail=self.fail, powered=machine.on.is_set)
                summary["http_errors"] = rack.errors + summary["http_errors"]
                summary["requests"] += rack.requests
                record.update(summary, job_ended=time.time())
        except Exception as exc:  # a simulated machine must not take the fleet down
            record.update(ok=False, interrupted=f"{type(exc).__name__}: {exc}")
        finally:
            machine.done = True

    def write(self, machine: SimulatedMachine) -> None:
        record, machine.boot = machine.boot, None
        with self._lock:
            self.results.append(record)
            if self.records_path:
                with open(self.records_path, "a") as handle:
                    handle.write(json.dumps(record) + "\n")


def _machines(args) -> list[tuple]:
    pairs = list(args.machine or [])
    if args.machines_file:
        pairs += [line.strip() for line in Path(args.machines_file).read_text().splitlines()
                  if line.strip()]
    machines = [tuple(pair.split(":", 1)) for pair in pairs]
    if args.rack_credentials and args.macs_file:
        credentials = json.loads(Path(args.rack_credentials).read_text())
        macs = Path(args.macs_file).read_text().split()
        machines += machines_from_boot_decisions(args.region, credentials, macs)
    return machines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True, help="region URL, e.g. http://host:5240/")
    parser.add_argument("--machine", action="append", help="SYSTEM_ID:TOKEN (repeatable)")
    parser.add_argument("--machines-file", help="file of SYSTEM_ID:TOKEN lines")
    parser.add_argument("--rack-credentials", help="rack credentials.json (boot decisions)")
    parser.add_argument("--macs-file", help="file of MACs whose boot decisions to read")
    parser.add_argument("--power-dir", help="fake BMC state directory to watch (boot on power)")
    parser.add_argument("--bmcs-file", help="with --power-dir: lines `FAKE_ID MAC`")
    parser.add_argument("--records", default="", help="with --power-dir: JSON line per boot")
    parser.add_argument("--exit-after", type=int, default=0, help="with --power-dir: boots")
    parser.add_argument("--timeout", type=float, default=0.0, help="with --power-dir: seconds")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="machines at a time (default 64; every machine with --power-dir)")
    parser.add_argument("--script-seconds", type=float, default=0.0)
    parser.add_argument("--fail", action="append", default=[], help="script names that fail")
    args = parser.parse_args(argv)
    fail = frozenset(args.fail)
    if args.power_dir:
        if not (args.rack_credentials and args.bmcs_file):
            parser.error("--power-dir needs --rack-credentials and --bmcs-file")
        bmcs = dict(line.split() for line in Path(args.bmcs_file).read_text().splitlines()
                    if line.strip())
        fleet = Fleet(args.region, json.loads(Path(args.rack_credentials).read_text()), bmcs,
                      args.power_dir, records=args.records, concurrency=args.concurrency,
                      script_seconds=args.script_seconds, fail=fail)
        signal.signal(signal.SIGTERM, lambda *_: fleet.stopping.set())
        print(json.dumps({"watching": len(bmcs), "power_dir": args.power_dir}), flush=True)
        summary = fleet.run(args.exit_after, args.timeout)
    else:
        summary = run_all(args.region, _machines(args), concurrency=args.concurrency or 64,
                          script_seconds=args.script_seconds, fail=fail)
    print(json.dumps({key: value for key, value in summary.items() if key != "results"}))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
