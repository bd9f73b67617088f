"""BMC: a baseboard management controller, shared by the machines of a chassis."""
from django.db import models


class BMC(models.Model):
    """A BMC record: its power type and BMC-scope parameters (secret ones encrypted)."""

    power_type = models.CharField(max_length=64)
    power_parameters = models.JSONField(default=dict, blank=True)
    # Where the BMC listens, when its parameters name a host: racks on that subnet drive it.
    address = models.CharField(max_length=255, blank=True, default="", db_index=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "BMC"

    def __str__(self) -> str:
        return f"{self.power_type} {self.address or self.pk}"
