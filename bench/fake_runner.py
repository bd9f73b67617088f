"""Play the ephemeral environment's job runner over the real metadata API for many machines.

Each machine (a thread) does what nodes/metadata/runner.sh does, minus running anything: fetch
its job as JSON, start, upload output and finish each script, heartbeat, report the job's end,
and fetch the next job in the same "boot" (commissioning then testing) until told to power off.
Built-in inventory scripts get plausible output so the region parses something.

Usage: .venv/bin/python bench/fake_runner.py --region http://127.0.0.1:5240/
           (--machine SYSTEM_ID:TOKEN ... | --machines-file FILE |
            --rack-credentials credentials.json --macs-file FILE) [--concurrency 64]
           [--script-seconds 0] [--fail SCRIPT_NAME ...]
Machines from boot decisions: the rack API's decision for each MAC carries metal.system_id
and metal.token on its kernel command line, as the real boot path would.
Prints one JSON summary line (machines, jobs, failures, seconds).
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FAKE_STDOUT = {
    "10-cpu": "cpu_count=8\ncpu_model=Fake CPU\ncpu_speed=2400\narch=amd64\n",
    "10-memory": "memory_mib=16384\n",
    "30-dmi": "vendor=Fake\nproduct=Bench Server\nserial=0\nbios_vendor=Fake\n",
}
RETRIES = 3


class Region:
    """A tiny HTTP client for the metadata API with one machine's credentials."""

    def __init__(self, url: str, system_id: str = "", token: str = ""):
        self.api = url.rstrip("/") + "/api/v1/metadata/"
        self.auth = f"Machine {system_id}:{token}" if token else ""

    def call(self, method: str, path: str, data: bytes | None = None,
             accept: str = "") -> tuple[int, bytes]:
        """(status, body); network errors and 5xx are retried, 4xx returned."""
        headers = {"Authorization": self.auth} if self.auth else {}
        if accept:
            headers["Accept"] = accept
        for attempt in range(RETRIES):
            request = urllib.request.Request(self.api + path, data=data, method=method,
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == RETRIES - 1:
                    return exc.code, exc.read()
            except OSError:
                if attempt == RETRIES - 1:
                    raise
            time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def post(self, path: str, fields: dict | None = None, body: bytes | None = None) -> int:
        data = body if body is not None else urllib.parse.urlencode(fields or {}).encode()
        return self.call("POST", path, data)[0]


def run_script(region: Region, script: dict, seconds: float, fail: frozenset) -> bool:
    """One script's start, outputs and finish; whether every call was accepted."""
    rid, name = script["id"], script["name"]
    codes = [region.post(f"results/{rid}/start/")]
    time.sleep(seconds)
    stdout = FAKE_STDOUT.get(name, f"{name} ok\n").encode()
    for stream, body in (("stdout", stdout), ("stderr", b""), ("combined", stdout)):
        codes.append(region.post(f"results/{rid}/output/?stream={stream}", body=body))
    exit_status = 1 if name in fail else 0
    codes.append(region.post(f"results/{rid}/finish/", {
        "exit_status": exit_status, "runtime": f"{seconds:.2f}", "timed_out": 0}))
    return all(code == 200 for code in codes)


def run_machine(url: str, system_id: str, token: str, *, script_seconds: float = 0.0,
                fail: frozenset = frozenset()) -> dict:
    """Every job of one machine in one boot; a summary of what happened."""
    region, started = Region(url, system_id, token), time.monotonic()
    summary = {"system_id": system_id, "jobs": [], "ok": True, "poweroff": False}
    while True:
        code, body = region.call("GET", "job/", accept="application/json")
        if code != 200:
            summary["ok"] = summary["ok"] and bool(summary["jobs"])
            break
        job = json.loads(body)
        summary["jobs"].append(job["job"])
        region.post("heartbeat/")
        for script in job["scripts"]:
            summary["ok"] &= run_script(region, script, script_seconds, fail)
        code, body = region.call("POST", "status/", b"status=ok&message=")
        if code != 200 or b"poweroff=1" in body:
            summary["poweroff"] = code == 200
            summary["ok"] &= code == 200
            break
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary


def machines_from_boot_decisions(url: str, credentials: dict, macs: list[str]) -> list[tuple]:
    """(system_id, token) of each MAC's boot decision, as the rack would render it."""
    found = []
    for mac in macs:
        request = urllib.request.Request(
            url.rstrip("/") + f"/api/v1/rack/boot/{mac.replace(':', '-')}/",
            headers={"Authorization": f"Rack {credentials['system_id']}:{credentials['token']}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            decision = json.loads(response.read())
        params = dict(p.split("=", 1) for p in decision["kernel_params"].split() if "=" in p)
        if params.get("metal.token"):
            found.append((params["metal.system_id"], params["metal.token"]))
    return found


def run_all(url: str, machines: list[tuple], *, concurrency: int = 64,
            script_seconds: float = 0.0, fail: frozenset = frozenset()) -> dict:
    """Run every machine concurrently; the summary of the whole run."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(lambda m: run_machine(
            url, m[0], m[1], script_seconds=script_seconds, fail=fail), machines))
    return {"machines": len(results), "jobs": sum(len(r["jobs"]) for r in results),
            "failures": [r["system_id"] for r in results if not r["ok"]],
            "seconds": round(time.monotonic() - started, 3), "results": results}


def _machines(args) -> list[tuple]:
    pairs = list(args.machine or [])
    if args.machines_file:
        pairs += [line.strip() for line in Path(args.machines_file).read_text().splitlines()
                  if line.strip()]
    machines = [tuple(pair.split(":", 1)) for pair in pairs]
    if args.rack_credentials:
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
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--script-seconds", type=float, default=0.0)
    parser.add_argument("--fail", action="append", default=[], help="script names that fail")
    args = parser.parse_args(argv)
    summary = run_all(args.region, _machines(args), concurrency=args.concurrency,
                      script_seconds=args.script_seconds, fail=frozenset(args.fail))
    print(json.dumps({key: value for key, value in summary.items() if key != "results"}))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
