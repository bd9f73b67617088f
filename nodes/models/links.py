"""Interface links: how an interface is configured on a subnet, with its assigned address."""
from django.db import models
from django.db.models import Q

from nodes.choices import LinkMode

# Modes that hold an address: STATIC from link time, AUTO from deploy until release.
ADDRESSED_MODES = (LinkMode.AUTO, LinkMode.STATIC)


class InterfaceLink(models.Model):
    """An interface's link to a subnet (MAAS's AUTO, DHCP, STATIC or LINK_UP)."""

    interface = models.ForeignKey(
        "nodes.Interface", on_delete=models.CASCADE, related_name="links"
    )
    # PROTECT: a subnet still linked cannot be deleted (its delete service answers 409).
    subnet = models.ForeignKey(
        "zones.Subnet", null=True, blank=True, on_delete=models.PROTECT, related_name="links"
    )
    mode = models.CharField(max_length=16, choices=LinkMode.choices)
    # PROTECT: the address of a link is released through the link (unlink, release), never
    # behind its back, so a STATIC link cannot lose its address.
    address = models.OneToOneField(
        "zones.StaticIPAddress", null=True, blank=True, on_delete=models.PROTECT,
        related_name="link",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["interface_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(subnet__isnull=False) | Q(mode=LinkMode.LINK_UP),
                name="link_subnet_unless_link_up"),
            models.CheckConstraint(
                condition=Q(address__isnull=True) | Q(mode__in=ADDRESSED_MODES),
                name="link_address_only_auto_or_static"),
            models.UniqueConstraint(fields=["interface", "subnet"],
                                    name="unique_link_interface_subnet"),
        ]

    def __str__(self) -> str:
        address = self.address.ip if self.address_id else ""
        return f"{self.mode} {self.subnet or '-'} {address}".strip()
