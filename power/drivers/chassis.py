"""Chassis discovery: the systems behind one chassis controller, as a rack finds them (ORM-free).

A discoverer takes the chassis' parameters (the BMC-scope settings of the power type it shares
with its machines: address, user, password...) and returns one DiscoveredSystem per machine
behind it. It raises PowerConnectionError/PowerTimeoutError (retryable) when the chassis cannot
be reached and PowerAuthError (fatal, never retried) when it refuses the credentials; messages
name the address and never repeat a secret.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import import_module
from typing import Any

from power.drivers.base import PowerSettingsError

# chassis_type -> "module:function"; the machines' power_type is the chassis_type.
DISCOVERERS = {
    "redfish": "power.drivers.redfish_chassis:discover",
    "virsh": "power.drivers.virsh:discover",
}


@dataclass(frozen=True)
class DiscoveredSystem:
    """One machine behind a chassis: enough to create it with working power."""

    # Stable identity inside the chassis (Redfish system Id, libvirt domain name): known
    # systems are matched on (chassis address, this) so discovery can run again.
    identifier: str
    # A name usable as a hostname suggestion (the chassis' name for it, "" if none).
    name: str = ""
    # Node-scope power parameters that select this system on the shared BMC
    # (redfish: {"node_id": ...}; virsh: {"power_id": <domain name>}).
    node_parameters: dict[str, Any] = field(default_factory=dict)
    macs: tuple[str, ...] = ()
    architecture: str = ""  # "amd64/generic" when known, else ""
    power_state: str = ""   # "on", "off" or "" (unknown)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["macs"] = list(self.macs)
        return data


def chassis_types() -> tuple[str, ...]:
    return tuple(sorted(DISCOVERERS))


def discover(chassis_type: str, params: dict[str, Any]) -> list[DiscoveredSystem]:
    """Every system behind the chassis (PowerSettingsError for an unknown chassis type)."""
    target = DISCOVERERS.get(chassis_type)
    if target is None:
        raise PowerSettingsError({"chassis_type": [
            f"Unknown chassis type {chassis_type!r}; one of {', '.join(chassis_types())}."]})
    module, function = target.split(":")
    return getattr(import_module(module), function)(params)
