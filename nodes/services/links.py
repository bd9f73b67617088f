"""Interface links to subnets, the default gateway, and AUTO addresses from deploy to release."""
import netaddr
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from maasproject.errors import NotPermitted
from maasproject.permissions import is_admin
from nodes import lifecycle
from nodes.choices import EventLevel, InterfaceType, LinkMode
from nodes.choices import NodeStatus as S
from nodes.models import Interface, InterfaceLink, Machine
from nodes.services.errors import LinksNotEditable
from nodes.services.events import event_record
from nodes.services.permissions import may_run
from zones.choices import IPAddressAllocType
from zones.models import StaticIPAddress, Subnet
from zones.services.addresses import subnet_ip_assign

# Links change only while the machine is not running a deployed OS nor on its way there (as in
# MAAS): an address taken away from a running system would still be configured on it.
LINKS_EDITABLE = (S.NEW, S.READY, S.ALLOCATED, S.BROKEN, S.FAILED_COMMISSIONING,
                  S.FAILED_DEPLOYMENT, S.FAILED_RELEASING, S.FAILED_DISK_ERASING,
                  S.FAILED_ENTERING_RESCUE_MODE, S.FAILED_EXITING_RESCUE_MODE, S.FAILED_TESTING)
# Which links may carry the default gateway (MAAS's rule for link_subnet's default_gateway).
GATEWAY_MODES = (LinkMode.AUTO, LinkMode.STATIC)
# Interfaces whose parents give up their own links (as in MAAS): a bond's members, a bridge's port.
AGGREGATES = (InterfaceType.BOND, InterfaceType.BRIDGE)
# The address type of each addressed mode: STATIC keeps its address across releases.
ALLOC_TYPES = {LinkMode.AUTO: IPAddressAllocType.AUTO, LinkMode.STATIC: IPAddressAllocType.STICKY}


def link_mode(value) -> str:
    """A mode as stored (lower case), from MAAS's spelling in any case; a field error else."""
    mode = str(value or "").lower()
    if mode not in LinkMode.values:
        raise ValidationError({"mode": [f"'{value}' is not a link mode: one of "
                                        f"{', '.join(LinkMode.labels)}."]})
    return mode


def machine_lock_network(machine_id: int, user, what: str = "network links") -> Machine:
    """Lock the machine (serialising network changes with deploy and release), check who (an
    admin or its owner) and when (LINKS_EDITABLE): NotPermitted (403), LinksNotEditable (409)."""
    machine = Machine.objects.select_for_update().get(pk=machine_id)
    if user is not None and not is_admin(user) and not may_run(
            lifecycle.OWNER, owns=machine.owner_id == user.pk, unowned=False):
        raise NotPermitted(f"You do not have permission to change the {what} of machine "
                           f"{machine.system_id}.")
    if machine.status not in LINKS_EDITABLE:
        raise LinksNotEditable(machine, [S(status).label for status in LINKS_EDITABLE], what)
    return machine


def _record(machine: Machine, user, type: str, description: str) -> None:
    event_record(machine=machine, type=type, user=user, description=description,
                 level=EventLevel.AUDIT if user is not None else EventLevel.INFO)


def links_discard(links: QuerySet[InterfaceLink]) -> list[str]:
    """Delete links with their addresses (a default gateway on them is cleared); the IPs."""
    rows = list(links.filter(address__isnull=False).values_list("address_id", "address__ip"))
    links.delete()
    StaticIPAddress.objects.filter(pk__in=[pk for pk, _ip in rows]).delete()
    return [ip for _pk, ip in rows]


def _check_link(interface: Interface, mode: str, subnet: Subnet | None, ip_address: str | None,
                default_gateway: bool) -> None:
    """The rules a new link must meet, all reported at once as field errors."""
    errors: dict[str, list[str]] = {}
    existing = list(interface.links.all())
    aggregate = interface.children.filter(type__in=AGGREGATES).first()
    if aggregate is not None:
        errors["__all__"] = [f"Interface {interface.name} is part of {aggregate.type} "
                             f"{aggregate.name}: link {aggregate.name} instead."]
    if subnet is None and mode != LinkMode.LINK_UP:
        errors["subnet"] = ["This field is required for AUTO, DHCP and STATIC links."]
    elif subnet is not None and interface.type == InterfaceType.VLAN and \
            subnet.vlan_id != interface.vlan_id:
        errors["subnet"] = [f"Subnet {subnet.cidr} is not on the VLAN of {interface.name}."]
    elif subnet is not None and any(link.subnet_id == subnet.pk for link in existing):
        errors["subnet"] = [f"Interface {interface.name} is already linked to subnet "
                            f"{subnet.cidr}."]
    if mode == LinkMode.DHCP and any(link.mode == LinkMode.DHCP for link in existing):
        errors["mode"] = [f"Interface {interface.name} already has a DHCP link."]
    if mode == LinkMode.LINK_UP and existing:
        errors["mode"] = [f"Interface {interface.name} has links: LINK_UP is only for an "
                          "interface without any (unlink them or disconnect first)."]
    if ip_address is not None and mode != LinkMode.STATIC:
        errors["ip_address"] = ["Only STATIC links take an IP address."]
    if default_gateway:
        problem = _gateway_problem(mode, subnet, GATEWAY_MODES)
        if problem:
            errors["default_gateway"] = [problem]
    if errors:
        raise ValidationError(errors)


def _gateway_problem(mode: str, subnet: Subnet | None, modes: tuple) -> str:
    """Why a link cannot be the machine's default IPv4 gateway ("" when it can)."""
    if mode not in modes:
        return f"Only {' and '.join(LinkMode(m).label for m in modes)} links can be the default " \
               "gateway."
    if subnet is None or not subnet.gateway_ip:
        return f"Subnet {subnet.cidr if subnet else '-'} has no gateway."
    if netaddr.IPNetwork(subnet.cidr).version != 4:
        return f"Subnet {subnet.cidr} is IPv6: only the IPv4 default gateway is kept."
    return ""


def _move_to_vlan(interface: Interface, subnet: Subnet) -> list[str]:
    """Put the interface on the subnet's VLAN (as MAAS does); its links on other VLANs go."""
    if interface.vlan_id == subnet.vlan_id:
        return []
    dropped = links_discard(interface.links.exclude(subnet__vlan_id=subnet.vlan_id))
    interface.vlan_id = subnet.vlan_id
    interface.save(update_fields=["vlan"])
    return dropped


@transaction.atomic
def interface_link_subnet(interface: Interface, user, *, mode: str, subnet: Subnet | None = None,
                          ip_address: str | None = None,
                          default_gateway: bool = False) -> InterfaceLink:
    """Link an interface to a subnet; STATIC gets its address now (`ip_address`, checked, or
    the lowest free one), AUTO at deploy. A LINK_UP link gives way to any other."""
    mode = link_mode(mode)
    machine = machine_lock_network(interface.machine_id, user)
    interface = Interface.objects.get(pk=interface.pk)
    _check_link(interface, mode, subnet, ip_address, default_gateway)
    interface.links.filter(mode=LinkMode.LINK_UP).delete()
    dropped = _move_to_vlan(interface, subnet) if subnet is not None else []
    link = InterfaceLink.objects.create(interface=interface, subnet=subnet, mode=mode)
    if mode == LinkMode.STATIC:
        _give_address(link, ip_address)
    if default_gateway:
        machine.gateway_link_ipv4 = link
        machine.save(update_fields=["gateway_link_ipv4"])
    note = f"; links on other VLANs removed (freed {', '.join(dropped) or 'no address'})" \
        if dropped else ""
    _record(machine, user, "link_subnet", f"Linked {interface.name} to "
            f"{subnet.cidr if subnet else 'its VLAN'} ({link.mode.upper()}"
            f"{' ' + link.address.ip if link.address_id else ''}){note}")
    return link


def _give_address(link: InterfaceLink, ip: str | None = None) -> str:
    """Assign the link its address: `ip` (checked) or the lowest free one of its subnet."""
    link.address = subnet_ip_assign(link.subnet, interface=link.interface,
                                    alloc_type=ALLOC_TYPES[link.mode], ip=ip)
    link.save(update_fields=["address"])
    return link.address.ip


@transaction.atomic
def interface_unlink_subnet(interface: Interface, user, link_id: int) -> Interface:
    """Remove one link of an interface, freeing its address (a gateway on it is cleared)."""
    machine = machine_lock_network(interface.machine_id, user)
    link = InterfaceLink.objects.filter(pk=link_id, interface_id=interface.pk).select_related(
        "subnet").first()
    if link is None:
        raise ValidationError({"id": [f"Interface {interface.name} has no link {link_id}."]})
    freed = links_discard(InterfaceLink.objects.filter(pk=link.pk))
    _record(machine, user, "unlink_subnet", f"Unlinked {interface.name} from "
            f"{link.subnet.cidr if link.subnet else 'its VLAN'} ({link.mode.upper()}"
            f"{' ' + freed[0] if freed else ''})")
    return Interface.objects.get(pk=interface.pk)


@transaction.atomic
def interface_disconnect(interface: Interface, user) -> Interface:
    """Remove every link of an interface (their addresses freed) and take it off its VLAN."""
    machine = machine_lock_network(interface.machine_id, user)
    freed = links_discard(InterfaceLink.objects.filter(interface_id=interface.pk))
    interface = Interface.objects.get(pk=interface.pk)
    interface.vlan = None
    interface.save(update_fields=["vlan"])
    _record(machine, user, "disconnect", f"Disconnected {interface.name}"
            f"{' (freed ' + ', '.join(freed) + ')' if freed else ''}")
    return interface


@transaction.atomic
def machine_set_default_gateway(machine: Machine, user, link_id: int | None = None, *,
                                interface: Interface | None = None) -> InterfaceLink:
    """Route the machine's IPv4 default through a link's subnet gateway: the link `link_id`, or
    without it the only one that can be (of `interface`, when given)."""
    machine = machine_lock_network(machine.pk, user)
    links = InterfaceLink.objects.filter(interface__machine=machine).select_related(
        "subnet", "interface").order_by("id")
    if interface is not None:
        links = links.filter(interface=interface)
    modes = (*GATEWAY_MODES, LinkMode.DHCP)  # a DHCP link's subnet gateway is the route too
    if link_id is None:
        link = _only_gateway_link([lk for lk in links if not _gateway_problem(
            lk.mode, lk.subnet, modes)])
    else:
        link = next((lk for lk in links if lk.pk == link_id), None)
        problem = "No such link." if link is None else _gateway_problem(link.mode, link.subnet,
                                                                         modes)
        if problem:
            raise ValidationError({"link_id": [f"Link {link_id}: {problem}"]})
    machine.gateway_link_ipv4 = link
    machine.save(update_fields=["gateway_link_ipv4"])
    _record(machine, user, "set_default_gateway", f"Default gateway "
            f"{link.subnet.gateway_ip} through {link.interface.name} ({link.subnet.cidr})")
    return link


def _only_gateway_link(candidates: list[InterfaceLink]) -> InterfaceLink:
    if len(candidates) == 1:
        return candidates[0]
    problem = ("No link has a subnet with an IPv4 gateway." if not candidates else
               f"Links {', '.join(str(lk.pk) for lk in candidates)} can all be the gateway: "
               "name one.")
    raise ValidationError({"link_id": [problem]})


def machine_links_assign(machine: Machine) -> list[str]:
    """Give every AUTO link without an address the lowest free one of its subnet (deploy).

    Runs in the deploy's transaction: a full subnet raises SubnetExhausted (409) and nothing
    of the deploy is kept. Subnets are locked in id order, so two deploys never deadlock.
    """
    links = InterfaceLink.objects.filter(
        interface__machine=machine, mode=LinkMode.AUTO, address__isnull=True,
    ).select_related("subnet", "interface").order_by("subnet_id", "interface__name", "id")
    assigned = [f"{link.interface.name} {_give_address(link)}" for link in links]
    if assigned:
        _record(machine, None, "ip_assigned", f"Assigned {', '.join(assigned)}")
    return assigned


def machine_links_release(machine: Machine) -> list[str]:
    """Free the addresses of the machine's AUTO links (release); STATIC ones stay."""
    links = InterfaceLink.objects.filter(interface__machine=machine, mode=LinkMode.AUTO,
                                         address__isnull=False)
    rows = list(links.values_list("address_id", "address__ip"))
    links.update(address=None)
    StaticIPAddress.objects.filter(pk__in=[pk for pk, _ip in rows]).delete()
    freed = sorted(ip for _pk, ip in rows)
    if freed:
        _record(machine, None, "ip_released", f"Released {', '.join(freed)}")
    return freed
