"""Writes for fabrics, VLANs and subnets (admin only)."""
from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.errors import InUseError
from maasproject.permissions import require_admin
from zones.choices import BiosBootLoader
from zones.models import VLAN, Fabric, RackController, Subnet
from zones.services.common import apply, delete, lock, record, validate
from zones.services.validation import check_subnet, check_vlan

DEFAULT_VID = 0


@transaction.atomic
def fabric_create(user, *, name: str, description: str = "") -> Fabric:
    """Create a fabric with its untagged default VLAN (vid 0), as MAAS does."""
    require_admin(user, "create fabrics")
    fabric = Fabric(name=name, description=description)
    validate(fabric)
    fabric.save()
    VLAN.objects.create(fabric=fabric, vid=DEFAULT_VID, name="untagged")
    record(user, "fabric_created", f"Created fabric {fabric.name}.")
    return fabric


@transaction.atomic
def fabric_update(fabric: Fabric, user, **fields) -> Fabric:
    """Update a fabric's name or description."""
    require_admin(user, "edit fabrics")
    fabric = apply(lock(fabric), fields)
    validate(fabric)
    fabric.save()
    record(user, "fabric_updated", f"Updated fabric {fabric.name}.")
    return fabric


@transaction.atomic
def fabric_delete(fabric: Fabric, user) -> None:
    """Delete a fabric and its VLANs, refused while any VLAN still has subnets."""
    require_admin(user, "delete fabrics")
    fabric = lock(fabric)
    count = Subnet.objects.filter(vlan__fabric=fabric).count()
    if count:
        raise InUseError(f"Cannot delete fabric {fabric.name}: its VLANs still have {count} "
                    "subnet(s); delete or move them first.")
    record(user, "fabric_deleted", f"Deleted fabric {fabric.name}.")
    delete(fabric, f"fabric {fabric.name}")


@transaction.atomic
def vlan_create(
    user,
    *,
    fabric: Fabric,
    vid: int,
    name: str = "",
    mtu: int = 1500,
    dhcp_on: bool = False,
    primary_rack: RackController | None = None,
    secondary_rack: RackController | None = None,
    relay_vlan: VLAN | None = None,
) -> VLAN:
    """Create a VLAN on a fabric."""
    require_admin(user, "create VLANs")
    vlan = VLAN(fabric=fabric, vid=vid, name=name, mtu=mtu, dhcp_on=dhcp_on,
                primary_rack=primary_rack, secondary_rack=secondary_rack, relay_vlan=relay_vlan)
    validate(vlan, check_vlan)
    vlan.save()
    record(user, "vlan_created", f"Created VLAN {vlan}.")
    return vlan


@transaction.atomic
def vlan_update(vlan: VLAN, user, **fields) -> VLAN:
    """Update a VLAN (vid, name, MTU, DHCP and its racks, relay)."""
    require_admin(user, "edit VLANs")
    vlan = apply(lock(vlan), fields)
    validate(vlan, check_vlan)
    vlan.save()
    record(user, "vlan_updated", f"Updated VLAN {vlan}.")
    return vlan


@transaction.atomic
def vlan_delete(vlan: VLAN, user) -> None:
    """Delete a VLAN; refused for a fabric's default VLAN and while it has subnets."""
    require_admin(user, "delete VLANs")
    vlan = lock(vlan)
    if vlan.vid == DEFAULT_VID:
        raise ValidationError({"vid": f"VLAN {vlan} is its fabric's default VLAN; delete the "
                                      "fabric instead."})
    count = vlan.subnets.count()
    if count:
        raise InUseError(f"Cannot delete VLAN {vlan}: it still has {count} subnet(s); "
                    "delete or move them first.")
    record(user, "vlan_deleted", f"Deleted VLAN {vlan}.")
    delete(vlan, f"VLAN {vlan}")


@transaction.atomic
def subnet_create(
    user,
    *,
    vlan: VLAN,
    cidr: str,
    name: str = "",
    gateway_ip: str | None = None,
    dns_servers: list[str] | None = None,
    managed: bool = True,
    allow_enlistment: bool = True,
    bios_boot_loader: str = BiosBootLoader.PXELINUX,
) -> Subnet:
    """Create a subnet; the CIDR is stored in network form (10.0.0.5/24 -> 10.0.0.0/24)."""
    require_admin(user, "create subnets")
    subnet = Subnet(vlan=vlan, cidr=cidr, name=name, gateway_ip=gateway_ip or None,
                    dns_servers=list(dns_servers or []), managed=managed,
                    allow_enlistment=allow_enlistment, bios_boot_loader=bios_boot_loader)
    validate(subnet, check_subnet)
    subnet.save()
    record(user, "subnet_created", f"Created subnet {subnet.cidr}.")
    return subnet


@transaction.atomic
def subnet_update(subnet: Subnet, user, **fields) -> Subnet:
    """Update a subnet; its ranges and addresses must still fit."""
    require_admin(user, "edit subnets")
    if "gateway_ip" in fields:
        fields["gateway_ip"] = fields["gateway_ip"] or None
    subnet = apply(lock(subnet), fields)
    validate(subnet, check_subnet)
    subnet.save()
    record(user, "subnet_updated", f"Updated subnet {subnet.cidr}.")
    return subnet


@transaction.atomic
def subnet_delete(subnet: Subnet, user) -> None:
    """Delete a subnet and its IP ranges; refused while it has static addresses."""
    require_admin(user, "delete subnets")
    subnet = lock(subnet)
    count = subnet.static_ips.count()
    if count:
        raise InUseError(f"Cannot delete subnet {subnet.cidr}: it still has {count} static IP "
                    "address(es); release them first.")
    record(user, "subnet_deleted", f"Deleted subnet {subnet.cidr}.")
    delete(subnet, f"subnet {subnet.cidr}")
