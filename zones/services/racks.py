"""Admin-side writes for rack controllers (racks register and heartbeat themselves)."""
from django.db import transaction

from nodes.services.permissions import require_admin
from zones.models import VLAN, RackController, Subnet
from zones.services.common import lock, record
from zones.services.errors import InUseError


@transaction.atomic
def rack_set_subnets(rack: RackController, user, subnets: list[Subnet]) -> RackController:
    """Set the subnets a rack is connected to."""
    require_admin(user, "edit rack controllers")
    rack = lock(rack)
    rack.subnets.set(subnets)
    record(user, "rack_updated", f"Set subnets of rack {rack.name}.")
    return rack


@transaction.atomic
def rack_delete(rack: RackController, user) -> None:
    """Delete a rack, refused while it is the primary DHCP rack of a VLAN."""
    require_admin(user, "delete rack controllers")
    rack = lock(rack)
    serving = [str(v) for v in VLAN.objects.filter(primary_rack=rack, dhcp_on=True)]
    if serving:
        raise InUseError(f"Cannot delete rack {rack.name}: it is the primary DHCP rack for VLAN(s) "
                    f"{', '.join(serving)}; turn DHCP off or pick another rack first.")
    record(user, "rack_deleted", f"Deleted rack {rack.name}.")
    rack.delete()
