"""Writes for IP ranges and static IP addresses (admin only), and the assignment of addresses to
interfaces (for interface links: nodes.services.links checks who may)."""
import netaddr
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from maasproject.errors import Conflict
from maasproject.permissions import require_admin
from nodes.models import Interface
from zones.choices import IPAddressAllocType
from zones.models import IPRange, StaticIPAddress, Subnet
from zones.services.common import apply, delete, lock, record, validate
from zones.services.validation import (
    assignable_bounds,
    check_assignable_ip,
    check_iprange,
    check_static_ip,
    normalise_ip,
    reserved_spans,
    subnet_for_ip,
)


@transaction.atomic
def iprange_create(
    user, *, subnet: Subnet | None, type: str, start_ip: str, end_ip: str, comment: str = ""
) -> IPRange:
    """Create a dynamic or reserved range inside a subnet (without one, as MAAS does: the most
    specific subnet holding start_ip)."""
    require_admin(user, "create IP ranges")
    if subnet is None:
        subnet = _subnet_containing(start_ip)
    iprange = IPRange(subnet=subnet, type=type, start_ip=start_ip, end_ip=end_ip,
                      comment=comment)
    validate(iprange, check_iprange)
    iprange.save()
    record(user, "iprange_created", f"Created {iprange} in {subnet.cidr}.")
    return iprange


def _subnet_containing(start_ip: str) -> Subnet:
    if not start_ip.strip():
        raise ValidationError({"subnet": ["Give the subnet, or a start_ip inside one."]})
    subnet = subnet_for_ip(normalise_ip(start_ip, "start_ip"))
    if subnet is None:
        raise ValidationError({"subnet": [f"No subnet contains {start_ip.strip()}."]})
    return subnet


@transaction.atomic
def iprange_update(iprange: IPRange, user, **fields) -> IPRange:
    """Update a range; the same rules as on creation apply."""
    require_admin(user, "edit IP ranges")
    iprange = apply(lock(iprange), fields)
    validate(iprange, check_iprange)
    iprange.save()
    record(user, "iprange_updated", f"Updated {iprange} in {iprange.subnet.cidr}.")
    return iprange


@transaction.atomic
def iprange_delete(iprange: IPRange, user) -> None:
    """Delete a range."""
    require_admin(user, "delete IP ranges")
    record(user, "iprange_deleted", f"Deleted {iprange} in {iprange.subnet.cidr}.")
    iprange.delete()


@transaction.atomic
def static_ip_create(
    user,
    *,
    ip: str,
    subnet: Subnet | None = None,
    alloc_type: str = IPAddressAllocType.STICKY,
    interface: Interface | None = None,
    owner: User | None = None,
) -> StaticIPAddress:
    """Assign a static address; without a subnet, the one containing the IP is used."""
    require_admin(user, "assign static IP addresses")
    if subnet is None:
        subnet = subnet_for_ip(normalise_ip(ip, "ip"))
        if subnet is None:
            raise ValidationError({"subnet": f"No subnet contains {ip}; create one first."})
    static = StaticIPAddress(ip=ip, subnet=subnet, alloc_type=alloc_type, interface=interface,
                             user=owner)
    validate(static, check_static_ip)
    static.save()
    record(user, "static_ip_created", f"Assigned static IP {static.ip}.")
    return static


@transaction.atomic
def static_ip_update(static: StaticIPAddress, user, **fields) -> StaticIPAddress:
    """Update a static address (pass `owner` to change its user)."""
    require_admin(user, "edit static IP addresses")
    if "owner" in fields:
        fields["user"] = fields.pop("owner")
    static = apply(lock(static), fields)
    validate(static, check_static_ip)
    static.save()
    record(user, "static_ip_updated", f"Updated static IP {static.ip}.")
    return static


@transaction.atomic
def static_ip_delete(static: StaticIPAddress, user) -> None:
    """Release a static address."""
    require_admin(user, "release static IP addresses")
    record(user, "static_ip_deleted", f"Released static IP {static.ip}.")
    # An interface link's address is released through its link (unlink, release): 409 here.
    delete(static, f"static IP {static.ip}")


class SubnetExhausted(Conflict):
    """A subnet has no address left to assign (HTTP 409)."""


def subnet_free_ip(subnet: Subnet, skip: frozenset[str] = frozenset()) -> str | None:
    """The lowest address of `subnet` a host may get, or None: not the network or broadcast
    address, not the gateway, outside every dynamic and reserved range, not assigned, not in
    `skip`. Walks the sorted blocked spans, so its cost grows with them, not the subnet size."""
    network = subnet.network
    first, last = assignable_bounds(network)
    taken = StaticIPAddress.objects.filter(subnet_id=subnet.pk).values_list("ip", flat=True)
    spans = [(start, end) for start, end, _why in reserved_spans(subnet)]
    spans += [(int(ip), int(ip)) for ip in map(netaddr.IPAddress, [*taken, *skip])]
    candidate = first
    for start, end in sorted(spans):
        if start > candidate:
            break
        candidate = max(candidate, end + 1)
    return str(netaddr.IPAddress(candidate, network.version)) if candidate <= last else None


def subnet_ip_assign(subnet: Subnet, *, interface: Interface, alloc_type: str,
                     ip: str | None = None) -> StaticIPAddress:
    """Assign `ip` (checked) or else the lowest free address of `subnet` to an interface.

    The subnet's row is locked first, so concurrent assignments in it queue and each sees the
    addresses the previous one committed; the unique `ip` is the last guard (an address taken
    outside the lock, e.g. an admin's static IP in an overlapping subnet): the next one is tried.
    """
    subnet = Subnet.objects.select_for_update().get(pk=subnet.pk)
    skip: set[str] = set()
    for _attempt in range(5):
        address = (check_assignable_ip(subnet, ip) if ip is not None
                   else subnet_free_ip(subnet, frozenset(skip)))
        if address is None:
            raise SubnetExhausted(f"Subnet {subnet.cidr} has no free IP address to assign "
                                  "(outside its dynamic and reserved ranges).")
        try:
            with transaction.atomic():  # a savepoint: a clash leaves the caller's work intact
                return StaticIPAddress.objects.create(
                    ip=address, subnet=subnet, alloc_type=alloc_type, interface=interface)
        except IntegrityError as exc:
            if ip is not None:
                raise ValidationError(
                    {"ip_address": f"IP {address} is already assigned."}) from exc
            skip.add(address)
    raise SubnetExhausted(f"Could not assign an address in subnet {subnet.cidr}; try again.")
