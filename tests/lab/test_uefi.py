"""UEFI with Secure Boot on, end to end, on one OVMF VM (Microsoft's keys enrolled):

commission: the VM netboots through our DHCP and TFTP into Debian's signed shim, Debian's signed
network GRUB with the per-MAC config bootsvc renders, and the signed ephemeral kernel, and
commissions to Ready; the region records the firmware from DHCP option 93 and Secure Boot's
state from inside the environment → deploy the test OS: the deploy runner writes the image, the
next netboot is answered with GRUB's local boot, which chainloads the shim on the disk's EFI
system partition, and the test OS boots from disk with Secure Boot on and reports → Deployed →
rescue mode and back → release with quick erase → Ready.
"""
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.utils import timezone

from lab.api import Api
from nodes.models import Machine
from nodes.services.bootresources import boot_resource_register_ephemeral
from tests.factories import AdminFactory, make_api_key
from tests.lab.helpers import (
    WAIT,
    build_boot_images,
    serve_lab_network,
    timeline_text,
    wait_for_status,
)
from tests.lab.test_commissioning import check_builtins_passed, create_ipmi_machine, output
from tests.lab.test_deploy import cache_locked
from tests.lab.test_lifecycle import (
    add_machine,
    cycle_region,
    deploy,
    release_with_quick_erase,
    wait_powered_off,
)

pytestmark = [
    pytest.mark.lab(vms=2, racks=1, memory=768, firmware=("uefi-secureboot", "uefi-http"),
                    beat=True, env={"DEADLINE_CHECK_INTERVAL": "2"}),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
SECURE_BOOT_ON = "secureboot: Secure boot enabled"  # the kernel, verified through shim


@pytest.fixture
def region(lab) -> dict:
    """As test_lifecycle's: images registered, DHCP on the lab's VLAN, lab-zone and lab-tag,
    a smaller Ready decoy; an admin's and a user's API clients."""
    images = build_boot_images(lab.boot_resources_dir, test_os=True)
    return cycle_region(lab, *images, allow_enlistment=False)


def commission(lab, admin: Api, vm, system_id: str) -> None:
    """Commission through shim → GRUB → the signed kernel; firmware and Secure Boot recorded."""
    admin.post(f"machines/{system_id}/commission/")
    ready = wait_for_status(admin, lab, system_id, "Ready", ("Commissioning",), WAIT)
    firmware = output(admin, system_id, "30-firmware")
    assert (ready["firmware"], ready["secure_boot"]) == ("uefi", True), firmware
    check_builtins_passed(admin, system_id)
    console = vm.console_plain()
    assert "UEFI PXEv4" in console and SECURE_BOOT_ON in console  # OVMF's own PXE, no iPXE
    timeline = timeline_text(system_id)
    for name in ("bootx64.efi", "grubx64.efi", "grub/grub.cfg"):
        assert f"TFTP {name}" in timeline or name in timeline, (name, timeline)
    assert "DHCPDISCOVER (uefi)" in timeline and "boots UEFI, Secure Boot on" in timeline
    wait_powered_off(admin, lab, vm, system_id)


def rescue_and_back(lab, region: dict, system_id: str) -> None:
    """Rescue mode boots the ephemeral environment again (the EFI chain); exit: Deployed."""
    api = region["user"]
    assert api.post(f"machines/{system_id}/rescue-mode/")["status_name"] == (
        "Entering rescue mode")
    wait_for_status(api, lab, system_id, "Rescue mode", ("Entering rescue mode",), WAIT)
    assert api.post(f"machines/{system_id}/exit-rescue-mode/")["status_name"] == (
        "Exiting rescue mode")
    wait_for_status(api, lab, system_id, "Deployed", ("Exiting rescue mode",), WAIT)


def test_secure_boot_vm_commissions_deploys_rescues_and_releases(lab, region):
    vm, admin = lab.vms[0], region["admin"]
    system_id = add_machine(admin, vm)
    seconds, started = {}, time.monotonic()
    commission(lab, admin, vm, system_id)
    seconds["commission"] = time.monotonic() - started

    mark = vm.console_size()
    seconds["deploy"] = deploy(lab, region, system_id, f"MARKER-{secrets.token_hex(4)}")
    after = vm.console_plain(mark)
    assert after.count(SECURE_BOOT_ON) >= 2, after[-3000:]  # the ephemeral kernel, then the disk's
    started = time.monotonic()
    rescue_and_back(lab, region, system_id)
    seconds["rescue and back"] = time.monotonic() - started
    seconds["release with quick erase"] = release_with_quick_erase(lab, region, system_id)
    print("\nUEFI Secure Boot: " + ", ".join(f"{stage} {value:.0f}s"
                                            for stage, value in seconds.items()))


def test_uefi_http_boot_commissions_without_tftp(lab, region):
    """OVMF with its PXE off (Secure Boot off) boots over UEFI HTTP boot: DHCP names iPXE's
    http:// URL (Debian's GRUB cannot boot on from an HTTP boot); iPXE fetches its script,
    the kernel and the initrd over HTTP too. Nothing goes over TFTP."""
    vm, admin = lab.vms[1], region["admin"]
    system_id = create_ipmi_machine(admin, vm, "lab-http-boot")
    started = time.monotonic()
    admin.post(f"machines/{system_id}/commission/")
    ready = wait_for_status(admin, lab, system_id, "Ready", ("Commissioning",), WAIT)
    print(f"\nUEFI HTTP boot: commissioned in {time.monotonic() - started:.0f}s")
    assert (ready["firmware"], ready["secure_boot"]) == ("uefi", False), ready
    console = vm.console_plain()
    assert "Start HTTP Boot over IPv4" in console and "URI: http://" in console
    timeline = timeline_text(system_id)
    assert "tftp_file" not in timeline, timeline
    for name in ("snponly.efi", "ipxe/boot.ipxe", "images/ephemeral/amd64/linux"):
        assert f"HTTP GET {name}" in timeline, (name, timeline)


@contextmanager
def tampered_kernel(rack):
    """The rack's cached ephemeral kernel with bytes changed past its headers (its signature
    no longer matches: a kernel tampered with on the rack), put back afterwards."""
    path = Path(rack.cache_dir) / "images/ephemeral/amd64/linux"
    good = path.read_bytes()
    middle = len(good) // 2
    path.write_bytes(good[:middle] + bytes(b ^ 0xFF for b in good[middle:middle + 16])
                     + good[middle + 16:])
    try:
        yield
    finally:
        path.write_bytes(good)


def test_secure_boot_refuses_a_tampered_kernel_and_the_machine_fails_at_its_deadline(lab):
    """Under Secure Boot, GRUB (through shim) refuses a kernel whose signature does not match:
    the refusal is on the console, the machine waits in Commissioning, and its deadline (moved
    to now here: MACHINE_STATUS_TIMEOUT is 30 min) fails it with an event, no hang."""
    vm = lab.vms[0]
    ephemeral, _ = build_boot_images(lab.boot_resources_dir)
    boot_resource_register_ephemeral(ephemeral.kernel, ephemeral.initrd, series="bookworm")
    serve_lab_network(lab, allow_enlistment=False)
    admin = Api(f"http://127.0.0.1:{lab.config.region_port}", make_api_key(AdminFactory()))
    system_id = create_ipmi_machine(admin, vm, "lab-tampered")
    mark = vm.console_size()  # the console log goes on across the module's tests
    # The rack's cache lock held: its periodic sync would repair the kernel before the VM
    # fetches it (a race this test once lost).
    with cache_locked(lab.racks[0]), tampered_kernel(lab.racks[0]):
        admin.post(f"machines/{system_id}/commission/")
        vm.wait_for_console("bad shim signature", timeout=WAIT, since=mark)
    assert "metal: init started" not in vm.console_plain(mark)  # the kernel never ran
    assert admin.get(f"machines/{system_id}/")["status_name"] == "Commissioning"
    Machine.objects.filter(system_id=system_id).update(status_expires=timezone.now())
    failed = wait_for_status(admin, lab, system_id, "Failed commissioning", ("Commissioning",),
                             120)
    assert failed["error_description"], failed
    assert "status_expired" in timeline_text(system_id)
