"""Zones app models."""
from zones.models.lease import DHCPLease
from zones.models.network import VLAN, Fabric, IPRange, StaticIPAddress, Subnet
from zones.models.place import ResourcePool, Zone
from zones.models.rack import RackController

__all__ = [
    "Zone",
    "ResourcePool",
    "Fabric",
    "VLAN",
    "Subnet",
    "IPRange",
    "StaticIPAddress",
    "RackController",
    "DHCPLease",
]
