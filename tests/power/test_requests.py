"""The rack's power message: the EFI boot flag from power_boot_type and the recorded firmware."""
import pytest

from power.services.parameters import machine_set_power
from power.services.requests import power_request
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db

IPMI = {"power_address": "10.0.0.9", "power_user": "admin", "power_pass": "secret"}


@pytest.mark.parametrize(("firmware", "boot_type", "efi"), [
    ("", "auto", False), ("bios", "auto", False), ("uefi", "auto", True),
    ("", "efi", True), ("uefi", "legacy", True),  # the driver lets "legacy" win over the flag
])
def test_efi_flag_follows_the_recorded_firmware_unless_the_operator_chose(firmware, boot_type,
                                                                           efi):
    machine = MachineFactory(firmware=firmware)
    machine_set_power(machine, "ipmi", {**IPMI, "power_boot_type": boot_type})
    machine.save()
    assert power_request(machine, "on", "commission", netboot=True)["efi"] is efi
