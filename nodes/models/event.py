"""Events: the audit and status log of machines and user actions."""
from django.conf import settings
from django.db import models

from nodes.choices import EventLevel


class Event(models.Model):
    """One thing that happened: a lifecycle change, a user action, a boot step."""

    machine = models.ForeignKey(
        "nodes.Machine", null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    # Kept after the machine is deleted so the audit trail survives.
    hostname = models.CharField(max_length=255, blank=True, default="")
    type = models.CharField(max_length=64, db_index=True)
    level = models.IntegerField(choices=EventLevel.choices, default=EventLevel.INFO, db_index=True)
    description = models.TextField(blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.type} {self.hostname}"
