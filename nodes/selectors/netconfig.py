"""A machine's network as cloud-init network config version 1, as MAAS hands it to curtin.

Built from the region's interfaces and links: AUTO and STATIC links are static addresses (AUTO
ones are given at deploy), DHCP a `dhcp4`/`dhcp6` subnet, LINK_UP or no link `manual`. The IPv4
default route goes through the machine's gateway link, else the first addressed link whose
subnet has an IPv4 gateway; the subnets' DNS servers become one nameserver entry.
"""
import netaddr

from nodes.choices import InterfaceType, LinkMode
from nodes.models import Interface, InterfaceLink, Machine

# Interface params (MAAS's names) and the keys cloud-init's v1 bond and bridge entries take.
BOND_PARAMS = {"bond_mode": "bond-mode", "bond_miimon": "bond-miimon",
               "bond_downdelay": "bond-downdelay", "bond_updelay": "bond-updelay",
               "bond_lacp_rate": "bond-lacp-rate", "bond_xmit_hash_policy": "bond-xmit-hash-policy",
               "bond_num_grat_arp": "bond-num-grat-arp"}
BRIDGE_PARAMS = {"bridge_stp": "bridge_stp", "bridge_fd": "bridge_fd"}
# Parents before the interfaces built on them: cloud-init brings them up in this order.
TYPE_ORDER = {InterfaceType.PHYSICAL: 0, InterfaceType.BOND: 1, InterfaceType.BRIDGE: 2,
              InterfaceType.VLAN: 3}


def machine_network_config(machine: Machine) -> dict:
    """The machine's enabled interfaces, their addresses, routes and DNS (cloud-init v1)."""
    interfaces = sorted(
        Interface.objects.filter(machine=machine, enabled=True).select_related("vlan")
        .prefetch_related("parents", "links__subnet", "links__address"),
        key=lambda i: (TYPE_ORDER[i.type], i.name))
    gateway = _gateway_link(machine, interfaces)
    config, nameservers = [], []
    for interface in interfaces:
        links = sorted(interface.links.all(), key=lambda link: link.pk)
        entry = _interface_entry(interface)
        entry["subnets"] = [_subnet_entry(link, link == gateway) for link in links] or [
            {"type": "manual"}]
        config.append(entry)
        for link in links:
            nameservers += [ip for ip in (link.subnet.dns_servers if link.subnet else [])
                            if ip not in nameservers]
    if nameservers:
        config.append({"type": "nameserver", "address": nameservers, "search": []})
    return {"version": 1, "config": config}


def _gateway_link(machine: Machine, interfaces: list[Interface]) -> InterfaceLink | None:
    """The link the IPv4 default route goes through (MAAS's gateway_link_ipv4, else the first
    addressed or DHCP link whose subnet has an IPv4 gateway)."""
    links = [link for interface in interfaces for link in interface.links.all()]
    chosen_id = Machine.objects.filter(pk=machine.pk).values_list(  # never a stale instance's
        "gateway_link_ipv4_id", flat=True).first()
    chosen = next((link for link in links if link.pk == chosen_id), None)
    if chosen is not None:
        return chosen
    candidates = [link for link in links if link.mode != LinkMode.LINK_UP and link.subnet
                  and link.subnet.gateway_ip and netaddr.IPAddress(link.subnet.gateway_ip)
                  .version == 4]
    return min(candidates, key=lambda link: link.pk, default=None)


def _interface_entry(interface: Interface) -> dict:
    entry = {"type": interface.type, "id": interface.name, "name": interface.name}
    mac = interface.effective_mac_address
    if mac:
        entry["mac_address"] = mac
    mtu = (interface.params or {}).get("mtu") or (interface.vlan.mtu if interface.vlan else None)
    if mtu:
        entry["mtu"] = int(mtu)
    parents = [parent.name for parent in interface.parents_in_order()]
    params = interface.params or {}
    if interface.type == InterfaceType.BOND:
        entry["bond_interfaces"] = parents
        entry["params"] = {key: params[name] for name, key in BOND_PARAMS.items() if name in params}
    elif interface.type == InterfaceType.BRIDGE:
        entry["bridge_interfaces"] = parents
        entry["params"] = {key: params[name] for name, key in BRIDGE_PARAMS.items()
                           if name in params}
    elif interface.type == InterfaceType.VLAN:
        entry["vlan_link"] = parents[0] if parents else ""
        entry["vlan_id"] = interface.vlan.vid if interface.vlan else 0
    return entry


def _subnet_entry(link: InterfaceLink, default_route: bool) -> dict:
    """One link as a cloud-init subnet entry."""
    if link.mode == LinkMode.LINK_UP or link.subnet is None:
        return {"type": "manual"}
    network = netaddr.IPNetwork(link.subnet.cidr)
    if link.mode == LinkMode.DHCP:
        return {"type": "dhcp4" if network.version == 4 else "dhcp6"}
    if link.address is None:  # an AUTO link before deploy gave it its address
        return {"type": "manual"}
    entry = {"type": "static", "address": f"{link.address.ip}/{network.prefixlen}"}
    gateway = link.subnet.gateway_ip
    if gateway and (default_route or netaddr.IPAddress(gateway).version == 6):
        entry["gateway"] = gateway
    if link.subnet.dns_servers:
        entry["dns_nameservers"] = list(link.subnet.dns_servers)
    return entry
