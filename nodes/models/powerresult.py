"""Power results already recorded, by the request id the rack echoes: a redelivery is a no-op."""
from django.db import models


class PowerResultReceipt(models.Model):
    """One power outcome recorded (result or failure), written in the same transaction."""

    request_id = models.CharField(max_length=64, unique=True)
    system_id = models.CharField(max_length=16, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} {self.system_id}"
