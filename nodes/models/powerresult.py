"""Power results already recorded, by the request id the rack echoes: a redelivery is a no-op."""
from django.db import models


class PowerResultReceipt(models.Model):
    """One power outcome recorded (result or failure), written in the same transaction."""

    request_id = models.CharField(max_length=64, unique=True)
    system_id = models.CharField(max_length=16, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} {self.system_id}"


class PendingPowerRequest(models.Model):
    """A power request sent to a rack whose outcome has not come back yet.

    Written in the transaction that sends the request, deleted in the one that records its
    outcome; the resend sweep (nodes.services.power_pending) sends one that stays too long
    again, then fails it with an event, so a result lost on the way never leaves a machine
    waiting in silence.
    """

    request_id = models.CharField(max_length=64, unique=True)
    system_id = models.CharField(max_length=16, db_index=True)
    action = models.CharField(max_length=16)
    purpose = models.CharField(max_length=16)
    netboot = models.BooleanField(default=False)
    rack = models.CharField(max_length=128)  # the queue it was last sent to
    attempts = models.PositiveSmallIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)
    sent = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} power {self.action} {self.system_id} via {self.rack}"
