"""BMC records' lifetime: a BMC no machine uses any more is deleted with its secrets."""
from django.db import transaction

from power.models import BMC


@transaction.atomic
def bmc_delete_if_unused(bmc_id: int | None) -> bool:
    """Delete the BMC `bmc_id` if no machine points at it (row locked); True if deleted."""
    if bmc_id is None:
        return False
    bmc = BMC.objects.select_for_update().filter(pk=bmc_id).first()
    if bmc is None or bmc.machines.exists():
        return False
    bmc.delete()
    return True

