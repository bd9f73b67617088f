"""Chassis discoveries as machines: one per system not yet known, or an event saying why none.

A rack reports what power.services.chassis sent it (nodes.chassis_tasks). A system is known
when a machine on the same BMC record (power type and address) has its node parameters (the
Redfish system id, the libvirt domain), so discovery can run again and adds only new systems;
a report delivered twice adds nothing the second time.
"""
import logging
import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from nodes.choices import EventLevel
from nodes.models import Interface, Machine
from nodes.services.actions import machine_commission
from nodes.services.events import event_record
from nodes.services.machines import generate_hostname, machine_create
from power.models import BMC
from power.secrets import decrypt_secrets
from power.services.parameters import bmc_address
from zones.models import ResourcePool, Zone

logger = logging.getLogger(__name__)
DEFAULT_ARCHITECTURE = "amd64/generic"
REASONS = {
    "PowerAuthError": "the chassis refused the credentials",
    "PowerConnectionError": "the chassis could not be reached",
    "PowerTimeoutError": "the chassis did not answer in time",
    "PowerSettingsError": "the chassis parameters were refused",
}


def chassis_outcome_record(*, chassis_type: str, hostname: str, context: dict[str, Any],
                           rack: str = "", systems: list[dict] | None = None, kind: str = "",
                           message: str = "", **_details: Any) -> list[str]:
    """Record a rack's report: the machines created (system ids), or the failure's event."""
    user = get_user_model().objects.filter(pk=context.get("user_id")).first()
    if systems is None:
        chassis_failure_record(chassis_type=chassis_type, hostname=hostname, rack=rack,
                               kind=kind, message=message, user=user)
        return []
    return chassis_record_discovery(chassis_type=chassis_type, hostname=hostname,
                                    context=context, systems=systems, user=user)


def chassis_failure_record(*, chassis_type: str, hostname: str, rack: str, kind: str,
                           message: str, user=None) -> None:
    """An ERROR event naming the chassis, whether it was unreachable or refused the login."""
    reason = REASONS.get(kind, "discovery failed")
    event_record(machine=None, hostname=hostname, type="chassis_discovery_failed",
                 level=EventLevel.ERROR, user=user,
                 description=f"No machines added from {chassis_type} chassis {hostname}"
                             f"{f' (rack {rack})' if rack else ''}: {reason}. {kind}: {message}")


@transaction.atomic
def chassis_record_discovery(*, chassis_type: str, hostname: str, context: dict[str, Any],
                             systems: list[dict], user=None) -> list[str]:
    """Create a machine per new system (prefix_filter applied); commission them on accept_all.

    Every machine gets the chassis' parameters plus its own node parameters through
    machine_set_power, so they all point at the chassis' one BMC record.
    """
    bmc_params = decrypt_secrets(context.get("bmc_params") or {})
    prefix = context.get("prefix_filter") or ""
    wanted = [s for s in systems if (s.get("name") or s["identifier"]).startswith(prefix)]
    known = _known_parameters(chassis_type, bmc_params)
    new = [s for s in wanted if not _is_known(s.get("node_parameters") or {}, known)]
    placement = _placement(context)
    created = [_machine_for(system, chassis_type, bmc_params, placement, user) for system in new]
    for machine in created if context.get("accept_all") else ():
        machine_commission(machine.system_id, user)
    names = ", ".join(machine.hostname for machine in created) or "none"
    event_record(machine=None, hostname=hostname, type="chassis_discovered", user=user,
                 description=f"{chassis_type} chassis {hostname}: {len(systems)} systems, "
                             f"{len(wanted) - len(new)} already known, {len(created)} added: "
                             f"{names}")
    return [machine.system_id for machine in created]


def _known_parameters(chassis_type: str, bmc_params: dict[str, Any]) -> list[dict]:
    """Node parameters of the machines on the chassis' BMC records (rows locked: one report
    at a time per chassis). An address with no host (qemu:///system) is matched on the whole
    address: machine_set_power gives each of those machines a BMC record of its own."""
    address = bmc_address(bmc_params)
    bmcs = BMC.objects.select_for_update().filter(power_type=chassis_type, address=address)
    if not address:
        bmcs = bmcs.filter(power_parameters__power_address=bmc_params.get("power_address", ""))
    return list(Machine.objects.filter(bmc__in=list(bmcs)).values_list("power_parameters",
                                                                         flat=True))


def _is_known(node_parameters: dict, known: list[dict]) -> bool:
    return any(all(params.get(k) == v for k, v in node_parameters.items()) for params in known)


def _placement(context: dict[str, Any]) -> dict[str, Any]:
    """The zone and pool the request named (they were checked when it was made)."""
    fields = {}
    for name, model in (("zone", Zone), ("pool", ResourcePool)):
        if context.get(name):
            obj = model.objects.filter(name=context[name]).first()
            if obj is not None:
                fields[name] = obj
    return fields


def _machine_for(system: dict, chassis_type: str, bmc_params: dict, placement: dict,
                 user) -> Machine:
    macs = [mac for mac in system.get("macs") or []
            if not Interface.objects.filter(mac_address=mac).exists()]
    machine = machine_create(
        user, mac_addresses=macs, power_type=chassis_type,
        power_parameters={**bmc_params, **(system.get("node_parameters") or {})},
        hostname=_hostname(system.get("name") or ""),
        architecture=system.get("architecture") or DEFAULT_ARCHITECTURE, **placement)
    logger.info("Chassis system %s is machine %s", system["identifier"], machine.system_id)
    return machine


def _hostname(name: str) -> str:
    """The system's name as a free hostname (lower case, hyphens), else a generated one."""
    base = re.sub(r"[^a-z0-9-]+", "-", name.split(".")[0].lower()).strip("-")[:57].strip("-")
    if not base:
        return generate_hostname()
    candidate, number = base, 1
    while Machine.objects.filter(hostname=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate
