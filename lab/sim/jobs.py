"""The simulated jobs without scripts: enlistment, erase, rescue; and a deployed OS's first boot.

Each posts what the real runner (nodes/metadata/runner.sh's enlistment, erase.sh, rescue.sh,
the deployed image's metal.cfg hook) would, with nothing touched on any disk.
"""
from lab.sim.client import Region

STAY_UP = ("rescue",)  # jobs after which the machine stays on, waiting for the operator
# erase.sh's read-back sample count for full and secure erases (nodes/metadata/render.py).
DEFAULT_SAMPLES = 64


def enlist(region: Region, mac: str, outputs: dict[str, str]) -> tuple[str, str]:
    """POST enlist/ with the boot MAC and a basic inventory: (system_id, token or "")."""
    fields = [f"mac={mac}", "arch=amd64", "cpu_count=8", "memory_mib=16384"]
    code, body = region.call("POST", "enlist/", "\n".join(fields).encode() + b"\n",
                             content_type="text/plain")
    if code != 200:
        return "", ""
    answer = dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)
    return answer.get("system_id", ""), answer.get("token", "")


def disk_sizes(outputs: dict[str, str]) -> dict[str, int]:
    """{disk name: bytes} of the simulated machine's block devices (its 20-block-devices)."""
    sizes = {}
    for line in outputs.get("20-block-devices", "").splitlines():
        fields = dict(part.split("=", 1) for part in line.split("\t") if "=" in part)
        sizes[fields["name"]] = int(fields["size"])
    return sizes


def erase(region: Region, job: dict, outputs: dict[str, str] | None = None) -> tuple[bool, str]:
    """Report every disk erased as asked (secure: unsupported, the fallback instead)."""
    region.post("heartbeat/")
    sizes = disk_sizes(outputs or {})
    lines = []
    for disk in job.get("disks") or sorted(sizes):
        size = sizes.get(disk, 480103981056)
        requested = job.get("mode", "full")
        mode = job.get("secure_fallback", "full") if requested == "secure" else requested
        written = 2 * job.get("quick_bytes", 2 << 20) if mode == "quick" else size
        # quick: every 64 KiB block of the zeroed ranges is read back; else a sample
        samples = written // 65536 if mode == "quick" else job.get("samples", DEFAULT_SAMPLES)
        note = ("simulated: secure erase unsupported, " + mode + " erase instead"
                if requested == "secure" else "simulated: nothing was written")
        lines.append("\t".join([f"disk={disk}", f"size={size}", f"requested={requested}",
                                f"mode={mode}", f"bytes_written={written}",
                                f"samples={samples}", "bad=0",
                                "result=passed", f"note={note}"]))
    code, body = region.call("POST", "erase-report/", "\n".join(lines).encode() + b"\n",
                             content_type="text/plain")
    return code == 200, body.decode(errors="replace") if code == 200 else ""


def rescue(region: Region) -> tuple[bool, str]:
    """Say the rescue environment is up (no SSH server: the simulation has none)."""
    code = region.post("rescue-ready/", {
        "status": "ok", "ip": region.source or "127.0.0.1", "host_key": "SHA256:simulated",
        "keys": 0, "message": "simulated rescue environment (no SSH server)"})
    return code == 200, "poweroff=0"


def deployed_first_boot(region: Region) -> bool:
    """The deployed OS's first boot: fetch the user data, report in (Deployed)."""
    code, body = region.call("GET", "user-data/")
    fields = {"message": "simulated deployed OS booted from its disk"}
    if code == 200 and body.startswith(b"#!"):
        fields.update(user_data_exit=0, user_data_output="simulated: user data not run\n")
    return region.post("deployed/", fields) == 200
