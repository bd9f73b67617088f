"""UEFI with Secure Boot on, end to end: an OVMF VM (Microsoft's keys enrolled) netboots through
our DHCP and TFTP into Debian's signed shim, Debian's signed network GRUB with the per-MAC config
bootsvc renders, and the signed ephemeral kernel over HTTP, then commissions to Ready; the region
records the firmware from DHCP option 93 and Secure Boot's state from inside the environment."""
import time

import pytest

from lab.api import Api
from nodes.services.bootresources import boot_resource_register_ephemeral
from tests.factories import AdminFactory, make_api_key
from tests.lab.helpers import build_boot_images, serve_lab_network
from tests.lab.test_commissioning import (
    check_builtins_passed,
    create_ipmi_machine,
    events,
    machine,
    output,
    wait_for_status,
)
from tests.processes import wait_until

pytestmark = [
    pytest.mark.lab(vms=1, racks=1, memory=768, firmware="uefi-secureboot"),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
WAIT = 600  # TCG with SMM emulation: slower than SeaBIOS


@pytest.fixture
def region(lab) -> Api:
    ephemeral, _ = build_boot_images(lab.boot_resources_dir)
    boot_resource_register_ephemeral(ephemeral.kernel, ephemeral.initrd, series="bookworm")
    serve_lab_network(lab, allow_enlistment=False)
    return Api(f"http://127.0.0.1:{lab.config.region_port}", make_api_key(AdminFactory()))


def test_secure_boot_vm_commissions_through_shim_grub_and_the_signed_kernel(lab, region):
    vm = lab.vms[0]
    system_id = create_ipmi_machine(region, vm, "lab-uefi")
    started = time.monotonic()
    region.post(f"machines/{system_id}/commission/")
    ready = wait_for_status(region, lab, system_id, "Ready")
    print(f"\nUEFI Secure Boot VM commissioned in {time.monotonic() - started:.0f}s")

    firmware = output(region, system_id, "30-firmware")
    assert (ready["firmware"], ready["secure_boot"]) == ("uefi", True), firmware
    check_builtins_passed(region, system_id)
    console = vm.console_plain()
    assert "UEFI PXEv4" in console  # OVMF's own PXE client, no iPXE ROM
    assert "secureboot: Secure boot enabled" in console  # the kernel, verified through shim
    timeline = events(region, system_id)
    files = [text for kind, text in timeline if kind == "tftp_file"]
    for name in ("bootx64.efi", "grubx64.efi", "grub/grub.cfg"):
        assert any(name in text for text in files), (name, files)
    assert any(kind == "dhcp_discover" and "(uefi)" in text for kind, text in timeline)
    assert ("inventory_firmware", "boots UEFI, Secure Boot on") in timeline, timeline
    wait_until(lambda: machine(region, system_id)["power_state"] == "off", WAIT,
               lambda: f"{events(region, system_id)}\n{lab.logs_tail()}")
