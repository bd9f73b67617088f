"""Issue 7, the whole cycle on one lab VM, through the region's REST API (real HTTP):

commission (the real commission action: the VM netboots, the built-in scripts fill in the
inventory, its disk included) → Ready → a user allocates it by zone and tag and deploys the test
OS with user data that echoes a marker → the deploy runner writes the image, netboot goes off,
the VM boots the test OS from its disk, which runs the user data and reports: the marker is on
the console and in the region's `user_data_output` Event → Deployed → locked, every action but
unlock is refused and the VM runs on → unlocked, marked broken (still running) and fixed →
Deployed → release with quick erase:
the rack power cycles the running VM into the ephemeral environment, which zeroes the first
and last 2 MiB of the disk and of each partition, reads them back and reports → Ready without
owner; the test reads those areas of the VM's disk file itself (partitions taken from the
deployed disk's partition table before the release) → deploy again with a second marker →
Deployed → released without erase (powered off) → retired: it can no longer be powered on or
allocated.
"""
import os
import secrets
import struct
import time

import pytest
from django.utils import timezone

from lab.api import Api, ApiError
from nodes.models import Machine
from nodes.services.tokens import OS_PURPOSE
from tests.factories import AdminFactory, UserFactory, make_api_key
from tests.lab.helpers import (
    IMAGE_PATH,
    MIB,
    SECTOR,
    all_zero,
    allocate_and_deploy,
    build_boot_images,
    decoy,
    erase_report,
    first,
    read_at,
    register_boot_images,
    serve_lab_network,
    timeline,
    timeline_text,
    wait_for_status,
)
from tests.processes import wait_until

pytestmark = [
    pytest.mark.lab(vms=1, racks=1, memory=512),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
WAIT = 900  # seconds per stage: TCG, two cores shared with other work
QUICK_BYTES = 2 * MIB  # what a quick erase zeroes at each end of the disk and of a partition
BLOCK = 64 * 1024  # the erase job reads back the zeroed areas in blocks of this size


@pytest.fixture(scope="module")
def boot_images(lab_module):
    """The ephemeral kernel and initrd and the test OS images, built or reused from the cache."""
    return build_boot_images(lab_module.boot_resources_dir, test_os=True)


@pytest.fixture
def region(lab, boot_images) -> dict:
    """Images registered and synced to the rack, the lab's VLAN with DHCP on its rack, zone
    lab-zone and tag lab-tag (admin API) and a smaller Ready decoy with the tag in another zone.
    Returns an admin's and a user's API clients."""
    return cycle_region(lab, *boot_images)


def cycle_region(lab, ephemeral, deployable, allow_enlistment: bool = True) -> dict:
    """The region fixture's work, for other modules' labs too. BIOS machines boot through
    pxelinux here, the product's default boot loader (the other lab modules use iPXE)."""
    register_boot_images(ephemeral, deployable)
    serve_lab_network(lab, allow_enlistment=allow_enlistment, bios_boot_loader="pxelinux")
    base = f"http://127.0.0.1:{lab.config.region_port}"
    admin = Api(base, make_api_key(AdminFactory()))
    admin.post("zones/", {"name": "lab-zone"})
    admin.post("tags/", {"name": "lab-tag"})
    decoy()
    return {"admin": admin, "user": Api(base, make_api_key(UserFactory()))}


def add_machine(admin: Api, vm) -> str:
    """The VM as a New machine with IPMI power at its BMC, in lab-zone with lab-tag."""
    created = admin.post("machines/", {
        "hostname": "lab-cycle", "architecture": "amd64/generic", "mac_addresses": [vm.mac],
        "power_type": "ipmi", "power_parameters": vm.power_parameters, "zone": "lab-zone",
        "tag_names": ["lab-tag"]})
    assert created["status_name"] == "New", created
    return created["system_id"]


def wait_powered_off(api: Api, lab, vm, system_id: str) -> None:
    """The region powered the VM off through the rack (and qemu is gone)."""
    wait_until(lambda: api.get(f"machines/{system_id}/")["power_state"] == "off"
               and not vm.running(), 240,
               lambda: f"{timeline_text(system_id)}\n{lab.logs_tail()}")


def user_data(marker: str) -> str:
    return f"#!/bin/sh\necho {marker}\n"


# What the region's local-boot answer prints: pxelinux's on BIOS, GRUB's menu entry on UEFI.
LOCAL_BOOT_LINES = {"bios": "Booting from the local disk (lab-cycle)",
                    "uefi": "Booting `Local disk (lab-cycle)'"}


def check_deployed(lab, vm, system_id: str, marker: str, console_mark: int, since) -> None:
    """The runner wrote the image and rebooted; the next netboot was answered "boot local"
    and the test OS came up from the disk, ran the user data (the marker on the console and in
    the region) and reported; netboot off, the token revoked."""
    local_boot = LOCAL_BOOT_LINES["bios" if vm.firmware == "bios" else "uefi"]
    console = vm.console_plain(console_mark)
    for line in ("metal: pass 1: sha256 ok", "MiB written to /dev/vda, sha256 ok",
                 "metal: image written", "metal: deployment over: reboot"):
        assert line in console, line
    after = console[console.index("metal: deployment over: reboot"):]
    for line in (local_boot, "metal-os: init started",
                 "metal-os: metal.cfg on /dev/vda1", f"metal-os: user data: {marker}",
                 "metal-os: reported deployed"):
        assert line in after, line
    machine = Machine.objects.get(system_id=system_id)
    assert machine.netboot is False
    # The job's token is revoked; the deployed OS keeps its own credential until release.
    active = machine.tokens.filter(revoked__isnull=True)
    assert list(active.values_list("purpose", flat=True)) == [OS_PURPOSE]
    events = [e for e in timeline(system_id) if e.created >= since]
    served = [e for e in events if e.type == "http_file" and IMAGE_PATH in e.description]
    assert len(served) == 2, served  # pass 1 (checksum only), pass 2 (write)
    written = first(events, "deploy_image_written")
    local = first(events, "boot_decision", ": local")
    reported = first(events, "deployed")
    assert served[-1].created <= written.created <= local.created <= reported.created
    assert marker in first(events, "user_data_output").description


def deploy(lab, region: dict, system_id: str, marker: str) -> float:
    """Allocate by zone and tag, deploy with the marker's user data, wait for Deployed and
    check it; the seconds it took."""
    vm, api = lab.vms[0], region["user"]
    console_mark, since, started = vm.console_size(), timezone.now(), time.monotonic()
    assert allocate_and_deploy(api, user_data(marker)) == system_id  # not the smaller decoy
    wait_for_status(api, lab, system_id, "Deployed", ("Deploying",), WAIT)
    seconds = time.monotonic() - started
    check_deployed(lab, vm, system_id, marker, console_mark, since)
    return seconds


def partitions(mbr: bytes) -> list[tuple[int, int]]:
    """(offset, length) in bytes of the primary partitions of an MBR partition table."""
    assert mbr[510:512] == b"\x55\xaa", mbr[510:512]
    found = []
    for index in range(4):
        entry = mbr[446 + 16 * index:446 + 16 * (index + 1)]
        part_type, start, sectors = entry[4], *struct.unpack("<II", entry[8:16])
        if part_type and sectors:
            found.append((start * SECTOR, sectors * SECTOR))
    return found


def quick_erase_areas(disk_size: int, parts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) of what a quick erase zeroes: the first and last 2 MiB of the disk and of
    each partition (all of it when smaller than 4 MiB), merged."""
    areas = []
    for offset, length in [(0, disk_size), *parts]:
        if length <= 2 * QUICK_BYTES:
            areas.append((offset, offset + length))
        else:
            areas += [(offset, offset + QUICK_BYTES),
                      (offset + length - QUICK_BYTES, offset + length)]
    merged = []
    for start, end in sorted(areas):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def release_with_quick_erase(lab, region: dict, system_id: str) -> float:
    """Release with quick erase; check the report, the machine, and the VM's disk file."""
    vm, api = lab.vms[0], region["user"]
    disk_size = os.path.getsize(vm.disk)
    parts = partitions(read_at(vm, 0, SECTOR))
    assert parts, "the deployed test OS has no partition"
    areas = quick_erase_areas(disk_size, parts)
    assert not all_zero(read_at(vm, 0, MIB))  # the deployed image is there before

    started = time.monotonic()
    answer = api.post(f"machines/{system_id}/release/", {"erase": True, "erase_mode": "quick"})
    assert answer["status_name"] == "Disk erasing", answer
    ready = wait_for_status(api, lab, system_id, "Ready", ("Disk erasing",), WAIT)
    seconds = time.monotonic() - started
    wait_powered_off(region["admin"], lab, vm, system_id)

    assert (ready["owner"], ready["osystem"], ready["error_description"]) == (None, "", ""), ready
    stored = Machine.objects.get(system_id=system_id)
    assert (stored.user_data, stored.netboot) == ("", True)
    written = sum(end - start for start, end in areas)
    report = erase_report(api, system_id)
    assert report["level"] == "INFO", report
    assert (f"vda: {disk_size} bytes, quick erase, {written} bytes written, "
            f"{written // BLOCK} blocks read back, 0 not zero: passed") in report["description"], \
        report
    for start, end in areas:  # read back from the disk file, past the VM
        assert all_zero(read_at(vm, start, end - start)), f"{start:#x}-{end:#x} not zeroed"
    offset, length = parts[0]  # a quick erase is not a full one: the image's middle is left
    assert not all_zero(read_at(vm, offset + QUICK_BYTES, length - 2 * QUICK_BYTES))
    return seconds


def lock_then_broken_and_fixed(lab, region: dict, system_id: str) -> None:
    """On the deployed, running VM: locked, every action but unlock (and query) is refused with
    409 and the VM keeps running; unlocked, marked broken it keeps running too (as in MAAS), and
    marked fixed it is Deployed again."""
    vm, admin, user = lab.vms[0], region["admin"], region["user"]
    assert user.post(f"machines/{system_id}/lock/", {"comment": "in production"})["locked"]
    for client, action, body in (
            (user, "release", {"erase": True}), (user, "power-off", {}),
            (user, "power-cycle", {}), (user, "rescue-mode", {}), (user, "mark-broken", {}),
            (admin, "set-zone", {"zone": "default"}), (admin, "mark-broken", {})):
        with pytest.raises(ApiError, match=r": 409 .*locked"):
            client.post(f"machines/{system_id}/{action}/", body)
    with pytest.raises(ApiError, match=r": 409 "):
        admin.call("DELETE", f"machines/{system_id}/")
    assert admin.post(f"machines/{system_id}/query-power-state/")["power_state"] == "on"
    assert user.post(f"machines/{system_id}/unlock/")["locked"] is False
    broken = user.post(f"machines/{system_id}/mark-broken/", {"description": "fan noise"})
    assert (broken["status_name"], broken["error_description"]) == ("Broken", "fan noise")
    assert admin.post(f"machines/{system_id}/mark-fixed/")["status_name"] == "Deployed"
    assert vm.running()
    assert admin.post(f"machines/{system_id}/query-power-state/")["power_state"] == "on"


def release_and_retire(lab, region: dict, system_id: str) -> None:
    """Released without erase: powered off, Ready; retired: Retired, and it cannot be powered on
    nor deployed (allocation skips it)."""
    vm, admin, user = lab.vms[0], region["admin"], region["user"]
    assert user.post(f"machines/{system_id}/release/")["status_name"] in ("Releasing", "Ready")
    wait_for_status(admin, lab, system_id, "Ready", ("Releasing",), WAIT)
    wait_powered_off(admin, lab, vm, system_id)
    assert admin.post(f"machines/{system_id}/retire/")["status_name"] == "Retired"
    with pytest.raises(ApiError, match=r": 409 "):
        admin.post(f"machines/{system_id}/power-on/")
    with pytest.raises(ApiError, match=r": 409 "):
        user.post("machines/allocate/", {"zone": "lab-zone", "tags": ["lab-tag"]})
    assert not vm.running()


def test_commission_deploy_release_with_quick_erase_and_deploy_again(lab, region):
    vm, admin = lab.vms[0], region["admin"]
    system_id = add_machine(admin, vm)
    seconds = {}

    started = time.monotonic()
    admin.post(f"machines/{system_id}/commission/")
    ready = wait_for_status(admin, lab, system_id, "Ready", ("Commissioning",), WAIT)
    seconds["commission"] = time.monotonic() - started
    disks = {d["name"]: d["size"] for d in ready["blockdevice_set"]}
    assert disks == {"vda": os.path.getsize(vm.disk)}, disks  # the inventory has its disk
    wait_powered_off(admin, lab, vm, system_id)

    first_marker, second_marker = (f"MARKER-{secrets.token_hex(4)}" for _ in range(2))
    seconds["deploy"] = deploy(lab, region, system_id, first_marker)
    lock_then_broken_and_fixed(lab, region, system_id)
    seconds["release with quick erase"] = release_with_quick_erase(lab, region, system_id)
    seconds["deploy again"] = deploy(lab, region, system_id, second_marker)
    release_and_retire(lab, region, system_id)

    print("\n" + ", ".join(f"{stage} {value:.0f}s" for stage, value in seconds.items()))
    outputs = [e.description for e in timeline(system_id) if e.type == "user_data_output"]
    assert [first_marker in outputs[0], second_marker in outputs[-1]] == [True, True], outputs
    assert len(outputs) == 2, outputs
