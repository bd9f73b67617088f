"""Rack controllers: the region's record of each rack (status from heartbeats)."""
from django.db import models

from maasproject.validators import validate_name
from zones.choices import RackStatus


class RackController(models.Model):
    """A rack controller that serves DHCP/TFTP/HTTP boot and power for its networks."""

    name = models.CharField(max_length=256, unique=True, validators=[validate_name])
    system_id = models.CharField(max_length=16, unique=True)
    status = models.CharField(max_length=16, choices=RackStatus.choices, default=RackStatus.DEAD)
    version = models.CharField(max_length=64, blank=True, default="", validators=[validate_name])
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    subnets = models.ManyToManyField("zones.Subnet", blank=True, related_name="racks")
    # SHA-256 of the token the rack authenticates with (`Authorization: Rack ID:TOKEN`).
    token_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    interfaces = models.JSONField(default=list, blank=True)
    services = models.JSONField(default=dict, blank=True)
    # Why a service the rack reports is not running: {"bootsvc": "boot loaders missing: ..."}.
    service_reasons = models.JSONField(default=dict, blank=True)
    # The rack's last image-cache sync report: bytes/files done and total, state, error, updated.
    image_sync = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def queue(self) -> str:
        return f"rack.{self.name}"
