"""Issue 7 end to end: rescue mode on a Deployed lab VM. The owner (an SSH key made here with
ssh-keygen, added to the account) asks for rescue mode through the REST API; the rack power
cycles the VM into the ephemeral environment, whose rescue job installs the owner's keys, starts
dropbear and reports. The test logs in over SSH from inside the lab (the bridge namespace),
reads the marker the "deployed" disk holds, checks that another key is refused and that the host
key is the one the region recorded; exit-rescue-mode returns the machine to Deployed (power
cycle: it boots its disk again) with the disk untouched (same sha256 before and after).
"""
import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from nodes.services.accounts import sshkey_create
from tests.lab.helpers import timeline_text, wait_for_status
from tests.lab.test_release import (  # noqa: F401 - fixtures
    DISK_SIZE,
    QUICK_KEPT,
    boot_images,
    lab_region,
    marker,
    write_deployed_disk,
)
from tests.processes import skip_or_fail, wait_until

pytestmark = [
    pytest.mark.lab(vms=1, racks=1, memory=512),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
               "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"]


@pytest.fixture
def ssh_client():
    """ssh, ssh-keygen and ssh-keyscan (openssh-client) on this host."""
    missing = [tool for tool in ("ssh", "ssh-keygen", "ssh-keyscan") if not shutil.which(tool)]
    if missing:
        reason = f"{', '.join(missing)} missing (apt-get install -y openssh-client)"
        skip_or_fail(reason)


def keypair(path: Path) -> tuple[Path, str]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f",
                    str(path)], check=True)
    return path, path.with_suffix(".pub").read_text().strip()


def ssh(lab, key: Path, ip: str, command: str):
    """Run `command` on the VM as root, from the lab's bridge namespace."""
    return lab.run_in(lab.bridge_ns, ["ssh", "-i", str(key), *SSH_OPTIONS, f"root@{ip}",
                                      command], timeout=120)


def host_key_fingerprint(lab, ip: str) -> str:
    scan = lab.run_in(lab.bridge_ns, ["ssh-keyscan", "-T", "20", "-t", "ed25519", ip])
    assert scan.returncode == 0 and scan.stdout, scan.stderr
    listed = subprocess.run(["ssh-keygen", "-lf", "-"], input=scan.stdout, capture_output=True,
                            text=True, check=True).stdout
    return listed.split()[1]


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_rescue_ssh_then_exit_to_deployed(lab, lab_region, ssh_client, tmp_path):  # noqa: F811
    """The owner's key logs in and reads the disk; exit: Deployed, the disk untouched."""
    vm, api, machine = lab.vms[0], lab_region["api"], lab_region["machine"]
    key, public = keypair(tmp_path / "owner")
    stranger, _ = keypair(tmp_path / "stranger")
    sshkey_create(lab_region["user"], public, actor=lab_region["user"])
    write_deployed_disk(vm)
    before = sha256(vm.disk)
    since, started = vm.console_size(), time.monotonic()

    entering = api.post(f"machines/{machine.system_id}/rescue-mode/")
    assert entering["status_name"] == "Entering rescue mode", entering
    wait_for_status(api, lab, machine.system_id, "Rescue mode", ("Entering rescue mode",))
    print(f"\nrescue mode after {time.monotonic() - started:.0f}s")
    ready = api.items(f"events/?machine={machine.system_id}&type=rescue_ready")[0]
    found = re.search(r"ssh root@(\S+) \(host key (SHA256:\S+); 1 authorized key", ready[
        "description"])
    assert found, ready
    ip, fingerprint = found.groups()
    assert f"metal: rescue mode: ssh root@{ip}" in vm.console_text(since)

    offset = QUICK_KEPT[0]
    session = ssh(lab, key, ip, f"dd if=/dev/vda bs=4096 skip={offset // 4096} count=1 "
                                "2>/dev/null | head -c 64; echo; id -un")
    assert session.returncode == 0, session.stderr + vm.console_text(since)[-3000:]
    assert session.stdout.splitlines() == [marker(offset).decode(), "root"], session.stdout
    refused = ssh(lab, stranger, ip, "true")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused
    assert host_key_fingerprint(lab, ip) == fingerprint

    exiting = api.post(f"machines/{machine.system_id}/exit-rescue-mode/")
    assert exiting["status_name"] == "Exiting rescue mode", exiting
    deployed = wait_for_status(api, lab, machine.system_id, "Deployed", ("Exiting rescue mode",))
    assert deployed["owner"] == lab_region["user"].username
    # Power cycled back to its disk: the boot decision was local, not the ephemeral one.
    wait_until(lambda: "Exiting rescue mode → Deployed" in timeline_text(machine.system_id)
               and ": local" in timeline_text(machine.system_id).split("exit-rescue-mode")[-1],
               240, lambda: timeline_text(machine.system_id) + vm.console_text(since)[-3000:])
    print(f"back to Deployed after {time.monotonic() - started:.0f}s:\n"
          f"{timeline_text(machine.system_id)}")
    if vm.running():
        vm.power_off()
    assert Path(vm.disk).stat().st_size == DISK_SIZE
    assert sha256(vm.disk) == before
