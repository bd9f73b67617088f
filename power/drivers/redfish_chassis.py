"""Redfish chassis discovery: every ComputerSystem of /redfish/v1/Systems (ORM-free, rack side).

Uses the redfish driver's client, so authentication (session or Basic), TLS verification and
error mapping are the driver's: unreachable is PowerConnectionError/PowerTimeoutError, refused
credentials PowerAuthError, and no message carries the password.
"""
from __future__ import annotations

from typing import Any

from power.drivers.base import PowerFatalError
from power.drivers.chassis import DiscoveredSystem
from power.drivers.redfish import (
    OFF_STATES,
    ON_STATES,
    SYSTEMS,
    RedfishClient,
    RedfishDriver,
)


def discover(params: dict[str, Any]) -> list[DiscoveredSystem]:
    """One DiscoveredSystem per member of the BMC's Systems collection, in the BMC's order."""
    cleaned = RedfishDriver.validate_settings(params, scope="bmc")
    with RedfishClient(cleaned) as client:
        collection, _ = client.get(SYSTEMS)
        paths = [m.get("@odata.id") for m in collection.get("Members") or []]
        return [_system(client, path) for path in paths if path]


def _system(client: RedfishClient, path: str) -> DiscoveredSystem:
    system, _ = client.get(path)
    identifier = str(system.get("Id") or path.rstrip("/").rsplit("/", 1)[-1])
    if not identifier:
        raise PowerFatalError(f"Redfish BMC {client.address}: system {path} has no Id.")
    state = str(system.get("PowerState") or "").lower()
    return DiscoveredSystem(
        identifier=identifier,
        name=str(system.get("HostName") or system.get("Name") or ""),
        node_parameters={"node_id": identifier},
        macs=tuple(_macs(client, system)),
        power_state=ON_STATES.get(state) or OFF_STATES.get(state) or "",
    )


def _macs(client: RedfishClient, system: dict[str, Any]) -> list[str]:
    """The MACs of the system's EthernetInterfaces, when it reports any (lower case, unique)."""
    link = (system.get("EthernetInterfaces") or {}).get("@odata.id")
    if not link:
        return []
    collection, _ = client.get(link)
    macs: list[str] = []
    for member in collection.get("Members") or []:
        if not member.get("@odata.id"):
            continue
        nic, _ = client.get(member["@odata.id"])
        mac = str(nic.get("PermanentMACAddress") or nic.get("MACAddress") or "").lower()
        if mac and mac not in macs:
            macs.append(mac)
    return macs
