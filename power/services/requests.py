"""Power requests (region side): the message a rack needs to drive a BMC, built from the database.

What a request or its outcome means for a machine (events, lifecycle) is nodes.services.power's
business: this module knows BMCs and drivers, never the machine lifecycle.
"""
import uuid
from typing import Any

from nodes.choices import Firmware
from power.services.parameters import bmc_address, driver_for, machine_power_parameters

PURPOSES = ("user", "job", "release", "exit-rescue", "poll")


def power_is_manual(power_type: str) -> bool:
    """A power type with no settings has nothing to drive: the operator powers the machine."""
    return not driver_for(power_type).settings


def power_request(machine, action: str, purpose: str, netboot: bool,
                  request_id: str = "") -> dict[str, Any]:
    """The rack task message: everything the driver needs, nothing from the database.

    A request sent again keeps its request_id, so its outcome is still recorded once.
    """
    params = machine_power_parameters(machine, reveal=True)
    return {
        "request_id": request_id or uuid.uuid4().hex,
        "system_id": machine.system_id,
        "power_type": machine.power_type,
        "params": params,
        "secret_fields": sorted(driver_for(machine.power_type).secret_fields()),
        "action": action,
        "purpose": purpose,
        "netboot": netboot,
        # The driver honours an explicit power_boot_type; with "auto" it follows this flag.
        "efi": params.get("power_boot_type") == "efi" or machine.firmware == Firmware.UEFI,
        "address": bmc_address(params),
    }
