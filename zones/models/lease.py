"""DHCP leases the racks report: the region's view of which address each MAC holds."""
from django.db import models

from zones.choices import LeaseState


class DHCPLease(models.Model):
    """One address leased to one MAC on a subnet; at most one active lease per address."""

    ip = models.GenericIPAddressField()
    mac = models.CharField(max_length=17, db_index=True)
    subnet = models.ForeignKey("zones.Subnet", on_delete=models.CASCADE, related_name="leases")
    hostname = models.CharField(max_length=255, blank=True, default="")
    expires = models.DateTimeField(db_index=True)
    rack = models.ForeignKey(
        "zones.RackController", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="leases",
    )
    state = models.CharField(max_length=16, choices=LeaseState.choices, default=LeaseState.ACTIVE)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ip"]
        verbose_name = "DHCP lease"
        constraints = [
            models.UniqueConstraint(fields=["ip", "mac"], name="unique_lease_ip_mac"),
            models.UniqueConstraint(
                fields=["ip"], condition=models.Q(state="active"), name="unique_active_lease_ip"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ip} {self.mac} ({self.state})"
