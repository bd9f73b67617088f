"""Issue 7 end to end: deploy the test OS to a lab VM, boot it from its disk; a corrupt image in
the rack's cache never reaches the disk.

A user allocates the VM by zone and tag and deploys it through the region's REST API (real
HTTP, as a MAAS client would). The rack powers it on through its BMC with a one-time netboot;
the ephemeral environment's deploy runner streams the test OS (`nodes.bootimages.testos`,
registered as the deployable metal-test/1 and synced to the rack) from the rack's HTTP image
cache, checks its sha256 twice, writes it and metal.cfg to the VM's disk and reboots. qemu
(SeaBIOS + iPXE, boot order network then disk) netboots again, the rack's answer is now "boot
local" (pxelinux LOCALBOOT), and the test OS boots from the disk, runs the user data and
reports: Deployed.
"""
import fcntl
import os
import secrets
import time
from contextlib import contextmanager

import pytest

from lab.api import Api
from nodes.bootimages import testos
from nodes.choices import NodeStatus
from nodes.models import BootResourceFile, Machine, Tag
from nodes.services.tokens import OS_PURPOSE
from power.services.parameters import machine_set_power
from tests.factories import (
    InterfaceFactory,
    MachineFactory,
    UserFactory,
    ZoneFactory,
    make_api_key,
)
from tests.lab.helpers import (
    IMAGE_PATH,
    MIB,
    WAIT,
    allocate_and_deploy,
    build_boot_images,
    decoy,
    disk_head,
    first,
    register_boot_images,
    serve_lab_network,
    timeline,
    wait_for_status,
)
from tests.processes import wait_until

pytestmark = [
    # The deploy runner downloads a bad image again after 3, 6, 9... s; the rack re-verifies its
    # cache every 5 s (production: 10 s steps, every 60 s).
    pytest.mark.lab(vms=1, racks=1, memory=512,
                    env={"DEPLOY_RETRY_WAIT": "3", "RACK_IMAGE_SYNC_INTERVAL": "5"}),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def boot_images(lab_module):
    """The ephemeral kernel and initrd and the test OS images, built or reused from the cache."""
    return build_boot_images(lab_module.boot_resources_dir, test_os=True)


@pytest.fixture
def region(lab, boot_images) -> dict:
    """Images registered and synced to the rack, the lab's VLAN with DHCP on its rack, and two
    Ready machines: the VM (IPMI at its BMC, zone lab-zone, tag lab-tag) and a smaller decoy
    in another zone. Returns the user's API client and the machines."""
    ephemeral, deployable = boot_images
    rack = lab.racks[0]
    register_boot_images(ephemeral, deployable)
    serve_lab_network(lab)
    assert (rack.cache_dir / IMAGE_PATH).read_bytes() == (
        lab.boot_resources_dir / IMAGE_PATH).read_bytes()
    user = UserFactory()
    return {"api": Api(f"http://127.0.0.1:{lab.config.region_port}", make_api_key(user)),
            "vm": vm_machine(lab.vms[0]), "decoy": decoy()}


def vm_machine(vm) -> Machine:
    """The lab VM as a Ready machine (as commissioning would leave it, less the inventory)."""
    zone, tag = ZoneFactory(name="lab-zone"), Tag.objects.create(name="lab-tag")
    machine = MachineFactory(hostname="lab-deploy", status=NodeStatus.READY, zone=zone, cpu_count=2,
                             memory=512, architecture="amd64/generic")
    machine_set_power(machine, "ipmi", vm.power_parameters)
    machine.save()
    machine.tags.add(tag)
    InterfaceFactory(machine=machine, mac_address=vm.mac)
    return machine


@contextmanager
def cache_locked(rack):
    """Hold the rack's image-cache lock: its periodic sync waits, so it cannot repair a file."""
    with open(rack.cache_dir / ".imagecache.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def test_deploy_writes_the_test_os_and_the_vm_boots_it_from_its_disk(lab, region):
    vm, api, marker = lab.vms[0], region["api"], f"MARKER-{secrets.token_hex(4)}"
    since, started = vm.console_size(), time.monotonic()
    system_id = allocate_and_deploy(api, f"#!/bin/sh\necho {marker}\n")
    assert system_id == region["vm"].system_id  # zone and tag, not the smaller decoy

    deployed = wait_for_status(api, lab, system_id, "Deployed", ("Deploying",))
    console = vm.console_plain(since)
    steps = [line for line in console.splitlines()
             if line.startswith(("metal", "Booting", "PXELINUX", "SYSLINUX"))]
    print(f"\ndeployed in {time.monotonic() - started:.0f}s; console:\n" + "\n".join(steps))

    # The ephemeral environment wrote the image, checked twice, then rebooted.
    for line in (f"metal.images=http://{lab.racks[0].address}:5248/", "metal: pass 1: sha256 ok",
                 "MiB written to /dev/vda, sha256 ok", "metal: image written",
                 "metal: deployment over: reboot"):
        assert line in console, line
    # The next netboot was answered "boot local", and the test OS came up from the disk.
    after = console[console.index("metal: deployment over: reboot"):]
    for line in ("Booting from the local disk (lab-deploy)", "metal-os: init started",
                 "metal-os: metal.cfg on /dev/vda1", f"metal-os: user data: {marker}",
                 "metal-os: reported deployed"):
        assert line in after, line
    assert deployed["status_name"] == "Deployed"
    machine = Machine.objects.get(system_id=system_id)
    assert machine.netboot is False
    # The job's token is revoked; the deployed OS keeps its own credential until release.
    active = machine.tokens.filter(revoked__isnull=True)
    assert list(active.values_list("purpose", flat=True)) == [OS_PURPOSE]

    events = timeline(system_id)
    served = [e for e in events if e.type == "http_file" and IMAGE_PATH in e.description]
    assert len(served) == 2, served  # pass 1 (checksum only), pass 2 (write)
    written = first(events, "deploy_image_written")
    local = first(events, "boot_decision", ": local")
    reported = first(events, "deployed")
    assert served[-1].created <= written.created <= local.created <= reported.created
    assert first(events, "boot_decision", ": deploy").created < served[0].created
    assert marker in first(events, "user_data_output").description
    head = disk_head(vm)
    assert head[:440] == testos.MBR_BIN.read_bytes() and head[510:512] == b"\x55\xaa"


EXT4_MAGIC_AT = MIB + 1024 + 56  # partition 1 (at 1 MiB), its superblock's magic


@pytest.mark.parametrize("file_format", ["zst", "tgz"])
def test_zst_images_and_root_tarballs_are_deployed_and_boot_from_the_disk(
        lab, region, file_format):
    """The test OS with its files of one format only: the ephemeral environment's zstd writes
    the disk image; a root tarball is unpacked on ext4 and booted by extlinux."""
    vm, api, marker = lab.vms[0], region["api"], f"MARKER-{secrets.token_hex(4)}"
    BootResourceFile.objects.filter(resource__os=testos.OS_NAME).exclude(
        format=file_format).delete()
    since = vm.console_size()
    system_id = allocate_and_deploy(api, f"#!/bin/sh\necho {marker}\n")
    wait_for_status(api, lab, system_id, "Deployed", ("Deploying",))
    console = vm.console_plain(since)
    written = ("metal: pass 2: root tarball unpacked on /dev/vda, sha256 ok"
               if file_format == "tgz" else "MiB written to /dev/vda, sha256 ok")
    assert written in console, console[-5000:]
    after = console[console.index("metal: deployment over: reboot"):]
    for line in ("metal-os: metal.cfg on /dev/vda1", f"metal-os: user data: {marker}",
                 "metal-os: reported deployed"):
        assert line in after, line
    head = disk_head(vm, 2 * MIB)
    assert head[:440] == testos.MBR_BIN.read_bytes()[:440] and head[510:512] == b"\x55\xaa"
    if file_format == "tgz":
        assert "metal: write_root_tgz: boots /boot/vmlinuz-" in console
        assert "Loading /boot/vmlinuz-" in after and head[446 + 4] == 0x83  # by extlinux
        assert head[EXT4_MAGIC_AT:EXT4_MAGIC_AT + 2] == b"\x53\xef"
    else:
        assert head[446 + 4] == 0x0C  # the image's own FAT32 partition


def corrupt(cached) -> None:
    """Bit rot in the middle of a cached file, same size."""
    with open(cached, "r+b") as handle:
        handle.seek(cached.stat().st_size // 2)
        data = handle.read(16)
        handle.seek(-len(data), os.SEEK_CUR)
        handle.write(bytes(b ^ 0xFF for b in data))


def test_a_corrupt_cached_image_is_fetched_again_by_the_rack_and_the_deploy_goes_on(lab, region):
    """The runner's pass 1 finds the mismatch and tries again; the rack's next sync notices
    the changed file, downloads it again from the region, and the next attempt passes."""
    vm, rack, api = lab.vms[0], lab.racks[0], region["api"]
    cached = rack.cache_dir / IMAGE_PATH
    since = vm.console_size()
    with cache_locked(rack):  # the rack cannot repair it before the runner has seen it
        corrupt(cached)
        system_id = allocate_and_deploy(api, "#!/bin/sh\necho repaired\n")
        vm.wait_for_console("metal: pass 1, attempt 1 of 5: sha256 checksum mismatch",
                            timeout=WAIT, since=since)
    wait_for_status(api, lab, system_id, "Deployed", ("Deploying",))
    console = vm.console_plain(since)
    assert "metal: pass 1: sha256 ok" in console and "metal-os: user data: repaired" in console
    assert cached.read_bytes() == (lab.boot_resources_dir / IMAGE_PATH).read_bytes()
    assert "1 downloaded" in (lab.state.logs_dir / f"{rack.name}.log").read_text()


def test_corrupt_image_in_the_rack_cache_never_reaches_the_disk(lab, region):
    """The rack cannot repair the file (its cache stays locked): every attempt of pass 1 fails,
    and the deployment with it, before anything is written."""
    vm, rack, api = lab.vms[0], lab.racks[0], region["api"]
    cached = rack.cache_dir / IMAGE_PATH
    since = vm.console_size()
    with cache_locked(rack):
        corrupt(cached)
        system_id = allocate_and_deploy(api, "#!/bin/sh\necho never\n")
        failed = wait_for_status(api, lab, system_id, "Failed deployment", ("Deploying",))

    reason = failed["error_description"]
    assert reason.startswith(f"deployment failed: sha256 checksum mismatch for {IMAGE_PATH}"), \
        reason
    assert "nothing was written to /dev/vda" in reason, reason
    assert "metal: deploy failed: sha256 checksum mismatch" in vm.console_text(since)
    assert disk_head(vm, 64 * MIB) == b"\0" * (64 * MIB)  # the disk was never written
    wait_until(lambda: not vm.running(), 240, lambda: vm.console_text(since)[-3000:])
    result = api.get(f"machines/{system_id}/results/current-deployment/")
    assert [r["status_name"] for r in result["results"]] == ["Failed"], result
