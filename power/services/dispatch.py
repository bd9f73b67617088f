"""Power dispatch (region side): build the rack request and hand it to rack_worker.client."""
import uuid
from typing import Any

from nodes.choices import EventLevel
from nodes.models import Machine
from nodes.services.events import event_record
from power.services.parameters import bmc_address, driver_for, machine_power_parameters
from rack_worker.client import choose_rack_queue, enqueue_power
from zones.selectors import healthy_racks

PURPOSES = ("user", "job", "release", "exit-rescue", "poll")


def build_request(machine: Machine, action: str, purpose: str, netboot: bool) -> dict[str, Any]:
    """The rack task message: everything the driver needs, nothing from the database."""
    params = machine_power_parameters(machine, reveal=True)
    return {
        "request_id": uuid.uuid4().hex,
        "system_id": machine.system_id,
        "power_type": machine.power_type,
        "params": params,
        "secret_fields": sorted(driver_for(machine.power_type).secret_fields()),
        "action": action,
        "purpose": purpose,
        "netboot": netboot,
        "efi": params.get("power_boot_type") == "efi",
        "address": bmc_address(params),
    }


def dispatch_power(system_id: str, action: str, *, purpose: str = "user",
                   netboot: bool = False) -> str | None:
    """Send a power action to a rack that can reach the BMC; return the queue used.

    A manual machine has nothing to drive: the operator does it, and that is recorded.
    No healthy rack fails the request at once, as a dead BMC would.
    """
    from power.services.results import power_failure_record

    machine = Machine.objects.select_related("bmc").get(system_id=system_id)
    if not driver_for(machine.power_type).settings:
        event_record(machine=machine, type="power_request",
                     description=f"Power {action}: power type {machine.power_type}, "
                                 "the operator does it")
        return None
    request = build_request(machine, action, purpose, netboot)
    queue = choose_rack_queue(request["address"], healthy_racks())
    if queue is None:
        power_failure_record(system_id=system_id, action=action, purpose=purpose,
                             kind="NoRackAvailable",
                             message="No healthy rack controller can reach this BMC.")
        return None
    enqueue_power(request, queue)
    event_record(machine=machine, type="power_request", level=EventLevel.DEBUG,
                 description=f"Power {action} sent to {queue}")
    return queue
