"""The deployed OS's cloud-init reporting to the MAAS-compatible metadata service.

cloud-init's webhook reporter (configured by the deploy, as MAAS's curtin does) posts a start and
a finish event for each stage (`init-local`, `init-network`, `modules-config`, `modules-final`)
and for each module within it (`modules-final/config-scripts-user`). While the machine is
Deploying, the final stage's successful finish makes it Deployed, and any failed finish makes it
Failed deployment with cloud-init's own description; afterwards reports are only recorded.
"""
from django.db import transaction

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Machine
from nodes.services.deploy import deployed_report
from nodes.services.events import event_record
from nodes.services.lifecycle import lock_machine, machine_finish

FINAL_STAGE = "modules-final"
LEVELS = {"FAIL": EventLevel.ERROR, "WARN": EventLevel.WARNING}


def cloudinit_report(machine: Machine, *, event_type: str, name: str, description: str = "",
                     result: str = "") -> Machine:
    """Record a cloud-init event (stages, and modules that did not succeed); end a deployment
    on the final stage's finish or on a failure."""
    stage = "/" not in name
    failed = event_type == "finish" and result == "FAIL"
    if stage or result in LEVELS:
        outcome = f" {result}" if event_type == "finish" and result else ""
        event_record(machine=machine, type="cloudinit", level=LEVELS.get(result, EventLevel.INFO),
                     description=f"cloud-init {event_type} {name}{outcome}: {description}")
    with transaction.atomic():
        machine = lock_machine(machine.system_id)
        if machine.status != NodeStatus.DEPLOYING:
            return machine
        if failed:
            return machine_finish(machine.system_id, success=False,
                                  reason=f"cloud-init {name} failed: {description}"[:1000])
        if event_type == "finish" and name == FINAL_STAGE:
            return deployed_report(machine, message=f"cloud-init {name} finished ({result})")
    return machine
