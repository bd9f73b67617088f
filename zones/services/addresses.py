"""Writes for IP ranges and static IP addresses (admin only)."""
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.permissions import require_admin
from nodes.models import Interface
from zones.choices import IPAddressAllocType
from zones.models import IPRange, StaticIPAddress, Subnet
from zones.services.common import apply, lock, record, validate
from zones.services.validation import check_iprange, check_static_ip, normalise_ip, subnet_for_ip


@transaction.atomic
def iprange_create(
    user, *, subnet: Subnet, type: str, start_ip: str, end_ip: str, comment: str = ""
) -> IPRange:
    """Create a dynamic or reserved range inside a subnet."""
    require_admin(user, "create IP ranges")
    iprange = IPRange(subnet=subnet, type=type, start_ip=start_ip, end_ip=end_ip,
                      comment=comment)
    validate(iprange, check_iprange)
    iprange.save()
    record(user, "iprange_created", f"Created {iprange} in {subnet.cidr}.")
    return iprange


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
    static.delete()
