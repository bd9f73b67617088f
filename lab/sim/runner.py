"""The simulated ephemeral environment: each job's runner played over the real metadata API.

Scripts (commissioning, testing, and the deploy job's `write-image`) go as runner.sh runs them,
minus running anything: consecutive scripts whose `parallel` is not `disabled` together,
each downloaded, started, its outputs uploaded and finished. Built-in inventory scripts get
realistic output in the format nodes/scripts/output.py parses, so the region's inventory code
runs for real. Jobs without scripts (enlistment, erase, rescue) are in lab/sim/jobs.py.
"""
import json
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

from lab.sim import jobs
from lab.sim.client import MachineOff, Region

WRITE_IMAGE = "write-image"  # nodes/services/deploy.py: the deploy job's one result


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
        "30-firmware": "firmware=uefi\nsecure_boot=on\n",
        "30-modaliases": "bus=pci\tmodalias=pci:v00008086d00001572sv00008086sd00000001bc02sc00"
                         "i00\n",
    }


def deploy_output(job: dict) -> str:
    """What the simulated deploy runner says it wrote (nothing is downloaded or written)."""
    image = job.get("image") or {}
    return (f"simulated: {image.get('path', '?')} ({image.get('format', '?')}, sha256 "
            f"{image.get('sha256', '')[:12]}) not downloaded; nothing written to "
            f"{job.get('disk') or 'the first disk'}\n")


def run_script(region: Region, script: dict, seconds: float, fail: frozenset,
               outputs: dict[str, str] | None = None) -> bool:
    """One script: download, start, outputs and finish; whether every call was accepted.

    The deploy job's `write-image` is the deploy runner's own work: nothing to download.
    """
    rid, name = script["id"], script["name"]
    codes = [] if name == WRITE_IMAGE else [region.call("GET", f"scripts/{rid}/")[0]]
    codes.append(region.post(f"results/{rid}/start/"))
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


def run_scripts(region: Region, job: dict, seconds: float, fail: frozenset,
                outputs: dict[str, str]) -> tuple[bool, str]:
    """A job with scripts, then its status/ report: (every call accepted, the answer)."""
    region.post("heartbeat/")
    beat, ok = time.monotonic(), True
    if job["job"] == "deployment":
        outputs = dict(outputs, **{s["name"]: deploy_output(job) for s in job["scripts"]})
    for batch in batches(job["scripts"]):
        if time.monotonic() - beat >= job.get("heartbeat_interval", 30):
            region.post("heartbeat/")
            beat = time.monotonic()
        ok &= run_batch(region, batch, seconds, fail, outputs)
    code, body = region.call("POST", "status/", b"status=ok&message=")
    return ok and code == 200, body.decode(errors="replace") if code == 200 else ""


def run_machine(url: str, system_id: str, token: str, *, mac: str = "",
                script_seconds: float = 0.0, fail: frozenset = frozenset(),
                powered=None, source: str = "") -> dict:
    """Every job of one machine in one boot; a summary of what happened.

    Without a token (an unknown machine's boot) the first job is enlistment, which gives one.
    """
    region = Region(url, system_id, token, powered=powered, source=source)
    started, outputs = time.monotonic(), fake_outputs(mac, system_id or mac)
    summary = {"system_id": system_id, "jobs": [], "ok": True, "poweroff": False}
    try:
        while True:
            code, body = region.call("GET", "job/", accept="application/json")
            if code != 200:
                summary["ok"] = summary["ok"] and bool(summary["jobs"])
                break
            job = json.loads(body)
            summary["jobs"].append(job["job"])
            ok, answer = run_job(region, job, script_seconds, fail, outputs, mac, summary)
            summary["ok"] &= ok
            if not ok or "poweroff=1" in answer or job["job"] in jobs.STAY_UP:
                summary["poweroff"] = ok and "poweroff=1" in answer
                break
            if job["job"] == "deployment":  # poweroff=0: reboot into the deployed OS
                summary["reboot"] = True
                break
    except MachineOff as exc:
        summary["ok"], summary["interrupted"] = False, f"powered off during {exc}"
    except OSError as exc:
        summary["ok"], summary["interrupted"] = False, f"{type(exc).__name__}: {exc}"
    summary["seconds"] = round(time.monotonic() - started, 3)
    summary["requests"], summary["http_errors"] = region.requests, region.errors
    summary["token"] = region.auth.rpartition(":")[2] if region.auth else ""
    return summary


def run_job(region: Region, job: dict, seconds: float, fail: frozenset,
            outputs: dict[str, str], mac: str, summary: dict) -> tuple[bool, str]:
    """One job by its kind: (ok, the region's answer to its end, e.g. `poweroff=1`)."""
    if job["job"] == "enlistment":
        system_id, token = jobs.enlist(region, mac, outputs)
        summary["system_id"], summary["enlisted"] = system_id, bool(system_id)
        if not token:  # known already, or ENLIST_COMMISSION=false: power off
            return bool(system_id), "poweroff=1"
        region.auth = f"Machine {system_id}:{token}"
        return True, "poweroff=0"
    if job["job"] == "erase":
        return jobs.erase(region, job, outputs)
    if job["job"] == "rescue":
        return jobs.rescue(region)
    return run_scripts(region, job, seconds, fail, outputs)


def boot_decision(url: str, credentials: dict, mac: str) -> tuple[dict, Region]:
    """The rack API's boot decision for a MAC (with the rack's credentials, as bootsvc asks)."""
    rack = rack_client(url, credentials)
    code, body = rack.call("GET", f"boot/{mac.replace(':', '-')}/")
    return (json.loads(body) if code == 200 else {}), rack


def rack_client(url: str, credentials: dict) -> Region:
    return Region(url, auth=f"Rack {credentials['system_id']}:{credentials['token']}",
                  api="api/v1/rack/")


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
            "seconds": round(seconds, 3), "results": [
                {k: v for k, v in r.items() if k != "token"} for r in results]}
