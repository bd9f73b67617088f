"""The real erase job: rendered by the region, run by this host's busybox against a live region,
on loop devices (root): quick, full, secure (unsupported on loop: the fallback), read-only."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event, Machine
from nodes.services import metadata as metadata_service
from nodes.services.tokens import token_active, token_issue
from rack_worker.env import env_bool
from tests.factories import BlockDeviceFactory, MachineFactory, UserFactory
from tests.nodes.metadata.test_runner import (  # noqa: F401 - fixtures
    busybox_path,
    fetch_job,
    region,
    run_runner,
)

MIB = 1 << 20
PATTERN = b"\xa5metal-erase-test" * 4096


@pytest.fixture
def loop_devices():
    """losetup(8) as root; each device detached after the test."""
    reason = None
    if os.geteuid() != 0:
        reason = "loop devices need root"
    elif not shutil.which("losetup"):
        reason = "losetup is missing (apt-get install mount)"
    if reason:
        if env_bool("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    attached = []

    def attach(path: Path, *options: str) -> str:
        device = subprocess.run(["losetup", "-f", "--show", *options, str(path)],
                                capture_output=True, text=True, check=True).stdout.strip()
        attached.append(device)
        return device

    yield attach
    for device in attached:
        subprocess.run(["losetup", "-d", device], check=False)


def disk_file(path: Path, size: int) -> Path:
    """A disk image full of a recognisable pattern."""
    with open(path, "wb") as handle:
        while handle.tell() < size:
            handle.write(PATTERN[:size - handle.tell()])
    return path


def erasing_machine(device: str, mode: str, fallback: str = "full"):
    machine = MachineFactory(status=NodeStatus.DISK_ERASING, previous_status=NodeStatus.DEPLOYED,
                             owner=UserFactory(), user_data="secret")
    BlockDeviceFactory(machine=machine, name=Path(device).name, size=0)
    key = token_issue(machine, "erase", {"mode": mode, "secure_fallback": fallback}).key
    return machine, key


def erase(machine, key, region, tmp_path, busybox_path):  # noqa: F811
    done, seconds = run_runner(fetch_job(region, machine, key), tmp_path, busybox_path, region,
                               METAL_SYSTEM_ID=machine.system_id, METAL_TOKEN=key,
                               METAL_ERASE_KEEP_CACHES="1")
    print(done.stdout[-3000:], done.stderr[-2000:], f"{seconds:.1f}s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metal: job over: would power off" in done.stdout
    assert key not in done.stdout + done.stderr
    machine.refresh_from_db()
    return machine, Event.objects.get(machine=machine, type="erase_report")


def zero(data: bytes) -> bool:
    return data.count(0) == len(data)


@pytest.mark.django_db(transaction=True)
def test_quick_erase_wipes_both_ends(region, busybox_path, loop_devices, tmp_path):  # noqa: F811
    """(Partitions' ends too: the lab test, whose VM kernel sees its disk's partitions; loop
    devices here may not get any.)"""
    size = 16 * MIB
    path = disk_file(tmp_path / "disk.img", size)
    device = loop_devices(path)
    machine, key = erasing_machine(device, "quick")
    machine, report = erase(machine, key, region, tmp_path, busybox_path)

    assert machine.status == NodeStatus.READY, machine.error_description
    assert (machine.owner, machine.user_data) == (None, "")
    assert token_active(machine) is None
    data = path.read_bytes()
    assert zero(data[:2 * MIB]) and zero(data[-2 * MIB:])
    assert data[2 * MIB:-2 * MIB] == (PATTERN * 512)[2 * MIB % len(PATTERN):][:12 * MIB]
    name = Path(device).name
    assert report.level == EventLevel.INFO
    assert f"{name}: {size} bytes, quick erase, {4 * MIB} bytes written, 64 blocks read " \
           "back, 0 not zero: passed" in report.description


@pytest.mark.django_db(transaction=True)
def test_full_erase_zeroes_everything_and_samples_it(region, busybox_path, loop_devices, tmp_path):  # noqa: F811
    size = 8 * MIB + 512 * 3  # not a whole number of blocks
    path = disk_file(tmp_path / "disk.img", size)
    device = loop_devices(path)
    machine, key = erasing_machine(device, "full")
    machine, report = erase(machine, key, region, tmp_path, busybox_path)
    assert machine.status == NodeStatus.READY, machine.error_description
    assert zero(path.read_bytes())
    assert f"full erase, {size} bytes written, 66 blocks read back, 0 not zero: passed" \
           in report.description


@pytest.mark.django_db(transaction=True)
def test_the_erase_job_heartbeats_while_it_erases(
        region, busybox_path, loop_devices, tmp_path, monkeypatch):  # noqa: F811
    """Each heartbeat pushes the Disk erasing deadline (the live server runs in this process)."""
    pushed = []

    def recording(machine):
        pushed.append(machine.status)
        original(machine)

    original = metadata_service.update_deadline
    monkeypatch.setattr(metadata_service, "update_deadline", recording)
    device = loop_devices(disk_file(tmp_path / "disk.img", 8 * MIB))
    machine, key = erasing_machine(device, "full")
    machine, _ = erase(machine, key, region, tmp_path, busybox_path)
    assert machine.status == NodeStatus.READY, machine.error_description
    assert pushed and set(pushed) == {NodeStatus.DISK_ERASING}


@pytest.mark.django_db(transaction=True)
def test_secure_erase_falls_back_and_says_so(region, busybox_path, loop_devices, tmp_path):  # noqa: F811
    path = disk_file(tmp_path / "disk.img", 4 * MIB)
    device = loop_devices(path)
    machine, key = erasing_machine(device, "secure", fallback="quick")
    machine, report = erase(machine, key, region, tmp_path, busybox_path)
    assert machine.status == NodeStatus.READY, machine.error_description
    assert zero(path.read_bytes())  # 4 MiB: quick's two ends are the whole disk
    assert "quick erase (secure requested)" in report.description
    assert "secure erase unsupported" in report.description
    assert "BLKSECDISCARD" in report.description and "quick erase instead" in report.description


@pytest.mark.django_db(transaction=True)
def test_read_only_disk_is_failed_disk_erasing(region, busybox_path, loop_devices, tmp_path):  # noqa: F811
    path = disk_file(tmp_path / "disk.img", 4 * MIB)
    device = loop_devices(path, "-r")
    machine, key = erasing_machine(device, "quick")
    owner = machine.owner
    machine, report = erase(machine, key, region, tmp_path, busybox_path)
    assert machine.status == NodeStatus.FAILED_DISK_ERASING
    name = Path(device).name
    assert machine.error_description == (f"Disk erasing failed: {name}: the device is read-only"
                                         ": nothing could be written")
    assert Machine.objects.get(pk=machine.pk).owner == owner
    assert report.level == EventLevel.ERROR
    assert path.read_bytes()[:len(PATTERN)] == PATTERN


def test_erase_and_rescue_runners_render_to_valid_shell(tmp_path, busybox_path):  # noqa: F811
    from nodes.metadata.render import erase_job_spec, render_job, rescue_job_spec

    specs = [erase_job_spec(system_id="abc", mode="secure", fallback="quick", disks=["v;da"],
                            heartbeat_interval=30),
             rescue_job_spec(system_id="abc")]
    for spec in specs:
        script = render_job(spec, "http://10.0.0.1:5240/")
        assert not re.search(r"@[A-Z_]+@", script)  # every marker replaced
        path = tmp_path / f"{spec['job']}.sh"
        path.write_text(script)
        checked = subprocess.run([f"{busybox_path}/sh", "-n", str(path)], capture_output=True,
                                 text=True)
        assert checked.returncode == 0, checked.stderr
    assert "DISKS='v_da'" in render_job(specs[0], "http://10.0.0.1:5240/")
