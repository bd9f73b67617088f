"""Admin for BMCs: power type, address and the machines sharing it; secrets never shown."""
from django.contrib import admin

from power.models import BMC
from power.secrets import redact
from power.services.parameters import driver_for


@admin.register(BMC)
class BMCAdmin(admin.ModelAdmin):
    """Read-only BMC view: parameters are changed through the machine (validated there)."""

    list_display = ("id", "power_type", "address", "machine_count", "updated")
    list_filter = ("power_type",)
    search_fields = ("address",)
    readonly_fields = ("power_type", "address", "public_parameters", "created", "updated")
    exclude = ("power_parameters",)

    def machine_count(self, bmc: BMC) -> int:
        return bmc.machines.count()

    @admin.display(description="Parameters (secrets hidden)")
    def public_parameters(self, bmc: BMC) -> dict:
        return redact(bmc.power_parameters, driver_for(bmc.power_type).secret_fields())

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
