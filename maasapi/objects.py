"""Machines, interfaces and block devices as MAAS API 2.0 objects (maas-api.md section 5).

Built from plain rows (values()), a constant number of queries for any number of machines:
MAAS returns every machine of `GET machines/` at once, so the list must stay cheap at 10,000.
Types are what Go clients enforce: integers as numbers, objects where they expect objects,
hardware_info values as strings.
"""
import gc
from collections import defaultdict
from contextlib import contextmanager

from nodes.choices import NodeStatus
from nodes.models import BlockDevice, Interface, InterfaceLink, Machine
from zones.models import VLAN, StaticIPAddress, Subnet

PREFIX = "/MAAS/api/2.0/"
MACHINE_FIELDS = ("id", "system_id", "hostname", "description", "status", "error_description",
                  "power_state", "power_type", "architecture", "cpu_count", "cpu_speed",
                  "memory", "osystem", "distro_series", "netboot", "locked", "firmware",
                  "owner__username", "zone_id", "zone__name", "zone__description", "pool_id",
                  "pool__name", "pool__description", "gateway_link_ipv4_id",
                  "gateway_link_ipv4__subnet__gateway_ip", "boot_disk_id")
INTERFACE_FIELDS = ("id", "machine_id", "name", "type", "mac_address", "enabled", "link_speed",
                    "params", "vlan_id", "vlan__vid", "vlan__name", "vlan__mtu", "vlan__dhcp_on",
                    "vlan__fabric_id", "vlan__fabric__name", "vlan__primary_rack__system_id",
                    "vlan__secondary_rack__system_id")
DEVICE_FIELDS = ("id", "machine_id", "name", "size", "block_size", "model", "serial", "id_path",
                 "tags")
DOMAIN = {"id": 0, "name": "maas", "ttl": None, "authoritative": True, "is_default": True,
          "resource_record_count": 0, "resource_uri": PREFIX + "domains/0/"}
TEST_STATUSES = ("commissioning", "testing", "other_test", "storage_test", "cpu_test",
                 "memory_test", "network_test", "interface_test")
STATUS_NAMES = dict(NodeStatus.choices)


def machine_objects(queryset) -> list[dict]:
    """Every machine of `queryset` as a MAAS object, in its order: seven queries in all.

    The parts are selected by a subquery of `queryset`, not a list of ids: at 10,000 machines
    an IN list of ids costs more than the join.
    """
    with _no_cyclic_gc():
        return _build(queryset)


@contextmanager
def _no_cyclic_gc():
    """Pause the cycle collector while building: the objects form no cycles (trees of dicts
    and lists, freed by reference counting), yet 10,000 machines allocate enough containers
    to trigger it dozens of times, which took half the time of the full list."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(queryset) -> list[dict]:
    rows = list(queryset.values(*MACHINE_FIELDS))
    chosen = queryset.order_by().values("id")
    interfaces, devices = defaultdict(list), defaultdict(list)
    addresses, tags = defaultdict(list), defaultdict(list)
    for row in Interface.objects.filter(machine__in=chosen).order_by("id").values(
            *INTERFACE_FIELDS):
        interfaces[row["machine_id"]].append(row)
    for row in BlockDevice.objects.filter(machine__in=chosen).order_by("name").values(
            *DEVICE_FIELDS):
        devices[row["machine_id"]].append(row)
    for machine_id, ip in StaticIPAddress.objects.filter(
            interface__machine__in=chosen).order_by("ip").values_list("interface__machine_id",
                                                                       "ip"):
        addresses[machine_id].append(ip)
    for machine_id, name in Machine.tags.through.objects.filter(machine__in=chosen).order_by(
            "tag__name").values_list("machine_id", "tag__name"):
        tags[machine_id].append(name)
    links = _links(InterfaceLink.objects.filter(interface__machine__in=chosen))
    parents = _parents(Interface.parents.through.objects.filter(
        from_interface__machine__in=chosen))
    for rows_of_machine in interfaces.values():
        _family(rows_of_machine, parents)
        for row in rows_of_machine:
            row["links"] = links.get(row["id"], [])
    return [_machine(row, interfaces[row["id"]], devices[row["id"]], addresses[row["id"]],
                     tags[row["id"]]) for row in rows]


def _links(queryset) -> dict[int, list[dict]]:
    """Interface id -> its links as MAAS shows them ({id, mode, ip_address, subnet}); each
    subnet object is built once."""
    rows = list(queryset.order_by("id").values("id", "interface_id", "mode", "address__ip",
                                               "subnet_id"))
    wanted = {row["subnet_id"] for row in rows if row["subnet_id"]}
    subnets = {subnet.id: subnet_object(subnet) for subnet in Subnet.objects.filter(
        id__in=wanted).select_related(*SUBNET_RELATED)} if wanted else {}
    found = defaultdict(list)
    for row in rows:
        link = {"id": row["id"], "mode": row["mode"]}
        if row["address__ip"]:
            link["ip_address"] = row["address__ip"]  # gomaasapi: a string, or no key at all
        if row["subnet_id"]:
            link["subnet"] = subnets[row["subnet_id"]]
        found[row["interface_id"]].append(link)
    return found


def _parents(queryset) -> dict[int, list[int]]:
    """Interface id -> its parents' ids, in the order they were given."""
    found = defaultdict(list)
    for child, parent in queryset.order_by("id").values_list("from_interface_id",
                                                              "to_interface_id"):
        found[child].append(parent)
    return found


def _family(rows: list[dict], parents: dict[int, list[int]]) -> None:
    """Give a machine's interface rows their parents' and children's names (sorted, as MAAS
    lists them) and their effective MAC: their own, else their first parent's."""
    by_id = {row["id"]: row for row in rows}
    children = defaultdict(list)
    for row in rows:
        for parent in parents.get(row["id"], ()):
            children[parent].append(row["name"])
    for row in rows:
        row["parents"] = sorted(by_id[p]["name"] for p in parents.get(row["id"], ()) if p in by_id)
        row["children"] = sorted(children[row["id"]])
    for row in rows:
        current, seen = row, set()
        while not current["mac_address"] and current["id"] not in seen:
            seen.add(current["id"])
            first = (parents.get(current["id"]) or [None])[0]
            if first not in by_id:
                break
            current = by_id[first]
        row["effective_mac"] = current["mac_address"]


# MAAS's bios_boot_method for each firmware (null until the machine has booted).
BOOT_METHODS = {"bios": "pxe", "uefi": "uefi"}
VLAN_RELATED = ("fabric", "primary_rack", "secondary_rack")
SUBNET_RELATED = tuple(f"vlan__{name}" for name in VLAN_RELATED)
IPRANGE_RELATED = tuple(f"subnet__{name}" for name in SUBNET_RELATED)


def vlan_object(vlan: VLAN) -> dict:
    """A VLAN as MAAS shows it."""
    return {"id": vlan.id, "vid": vlan.vid,
            "name": vlan.name or ("untagged" if vlan.vid == 0 else str(vlan.vid)),
            "mtu": vlan.mtu, "fabric": vlan.fabric.name, "fabric_id": vlan.fabric_id,
            "dhcp_on": vlan.dhcp_on, "external_dhcp": None,
            "primary_rack": vlan.primary_rack.system_id if vlan.primary_rack else None,
            "secondary_rack": vlan.secondary_rack.system_id if vlan.secondary_rack else None,
            "relay_vlan": vlan.relay_vlan_id, "space": "undefined",
            "resource_uri": f"{PREFIX}fabrics/{vlan.fabric_id}/vlans/{vlan.vid}/"}


def subnet_object(subnet: Subnet) -> dict:
    """A subnet with its VLAN."""
    return {"id": subnet.id, "name": subnet.name or subnet.cidr, "cidr": subnet.cidr,
            "vlan": vlan_object(subnet.vlan), "space": "undefined",
            "gateway_ip": subnet.gateway_ip, "dns_servers": list(subnet.dns_servers),
            "rdns_mode": 2, "allow_dns": True, "allow_proxy": True,
            "managed": subnet.managed, "active_discovery": False,
            "description": "", "resource_uri": f"{PREFIX}subnets/{subnet.id}/"}


def machine_object(machine: Machine) -> dict:
    """One machine (re-read: what a state change just wrote is what the client sees)."""
    return machine_objects(Machine.objects.filter(pk=machine.pk))[0]


def _test_statuses() -> dict:
    """Test result summaries: -1/Unknown (results are read through /api/v1/ for now)."""
    fields = {}
    for name in TEST_STATUSES:
        fields[f"{name}_status"] = -1
        fields[f"{name}_status_name"] = "Unknown"
    fields.update(current_commissioning_result_id=None, current_testing_result_id=None,
                  current_installation_result_id=None)
    return fields


# What every machine object has alike, built once: the list renders 10,000 of them.
CONSTANT = {
    "status_action": "", "owner_data": {}, "domain": DOMAIN, "swap_size": None,
    "hwe_kernel": None, "min_hwe_kernel": "",
    "virtualblockdevice_set": [], "volume_groups": [], "raids": [], "cache_sets": [],
    "bcaches": [], "special_filesystems": [], "numanode_set": [], "node_type": 0,
    "node_type_name": "Machine", "hardware_info": {}, "workload_annotations": {},
    **_test_statuses(),
}


def _machine(row: dict, interfaces: list, devices: list, addresses: list, tags: list) -> dict:
    system_id = row["system_id"]
    interface_set = [interface_object(i, system_id) for i in interfaces]
    device_set = [device_object(d, system_id) for d in devices]
    return {
        **CONSTANT,
        "system_id": system_id, "hostname": row["hostname"],
        "fqdn": f"{row['hostname']}.maas", "description": row["description"],
        "status": row["status"], "status_name": STATUS_NAMES[row["status"]],
        "status_message": row["error_description"],
        "power_state": row["power_state"], "power_type": row["power_type"],
        "owner": row["owner__username"], "locked": row["locked"],
        "zone": {"id": row["zone_id"], "name": row["zone__name"],
                 "description": row["zone__description"],
                 "resource_uri": f"{PREFIX}zones/{row['zone__name']}/"},
        "pool": {"id": row["pool_id"], "name": row["pool__name"],
                 "description": row["pool__description"],
                 "resource_uri": f"{PREFIX}resourcepool/{row['pool_id']}/"},
        "architecture": row["architecture"], "cpu_count": row["cpu_count"],
        "cpu_speed": row["cpu_speed"], "memory": row["memory"],
        "storage": sum(d["size"] for d in devices) / 1e6,
        "osystem": row["osystem"], "distro_series": row["distro_series"],
        "netboot": row["netboot"], "ip_addresses": addresses, "tag_names": tags,
        "bios_boot_method": BOOT_METHODS.get(row["firmware"]),
        "interface_set": interface_set,
        "boot_interface": next((i for i in interface_set if i["type"] == "physical"), None),
        "default_gateways": {
            "ipv4": {"gateway_ip": row["gateway_link_ipv4__subnet__gateway_ip"],
                     "link_id": row["gateway_link_ipv4_id"]},
            "ipv6": {"gateway_ip": None, "link_id": None}},
        "blockdevice_set": device_set, "physicalblockdevice_set": device_set,
        "boot_disk": next((d for d in device_set if d["id"] == row["boot_disk_id"]),
                          device_set[0] if device_set else None),
        "resource_uri": f"{PREFIX}machines/{system_id}/",
    }


def interface_object(row: dict, system_id: str) -> dict:
    """An interface row (INTERFACE_FIELDS, with its family from _family) as MAAS shows it: a
    bond's, bridge's or VLAN interface's MAC is its first parent's unless it has its own."""
    params = row["params"] or {}
    return {
        "id": row["id"], "name": row["name"], "type": row["type"],
        "mac_address": row.get("effective_mac", row["mac_address"]), "enabled": row["enabled"],
        "link_connected": True, "interface_speed": row["link_speed"],
        "link_speed": row["link_speed"], "numa_node": 0,
        "effective_mtu": params.get("mtu") or row["vlan__mtu"] or 1500, "system_id": system_id,
        "params": params, "vlan": _vlan(row), "parents": row.get("parents", []),
        "children": row.get("children", []), "tags": [],
        "links": row.get("links", []), "discovered": None,
        "resource_uri": f"{PREFIX}nodes/{system_id}/interfaces/{row['id']}/",
    }


def _vlan(row: dict) -> dict | None:
    if row["vlan_id"] is None:
        return None
    return {"id": row["vlan_id"], "vid": row["vlan__vid"], "name": row["vlan__name"] or
            ("untagged" if row["vlan__vid"] == 0 else str(row["vlan__vid"])),
            "mtu": row["vlan__mtu"], "fabric": row["vlan__fabric__name"],
            "fabric_id": row["vlan__fabric_id"], "dhcp_on": row["vlan__dhcp_on"],
            "external_dhcp": None, "primary_rack": row["vlan__primary_rack__system_id"],
            "secondary_rack": row["vlan__secondary_rack__system_id"], "relay_vlan": None,
            "space": "undefined",
            "resource_uri": f"{PREFIX}fabrics/{row['vlan__fabric_id']}/vlans/{row['vlan__vid']}/"}


def device_object(row: dict, system_id: str) -> dict:
    """A block device row (DEVICE_FIELDS) as MAAS shows it: physical, unpartitioned."""
    return {
        "id": row["id"], "name": row["name"], "type": "physical", "uuid": None,
        "model": row["model"], "serial": row["serial"], "id_path": row["id_path"] or None,
        "path": f"/dev/disk/by-dname/{row['name']}", "size": row["size"],
        "block_size": row["block_size"], "used_size": 0, "available_size": row["size"],
        "used_for": "Unused", "tags": list(row["tags"] or []), "filesystem": None,
        "partitions": [], "system_id": system_id,
        "resource_uri": f"{PREFIX}nodes/{system_id}/blockdevices/{row['id']}/",
    }
