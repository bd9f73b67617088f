"""Networks: fabrics, VLANs, subnets, IP ranges and static addresses."""
import netaddr
from django.core.exceptions import ValidationError
from django.db import models

from maasproject.validators import validate_name, validate_text
from zones.choices import BiosBootLoader, IPAddressAllocType, IPRangeType


class Fabric(models.Model):
    """A set of interconnected VLANs (a switching domain)."""

    name = models.CharField(max_length=256, unique=True, validators=[validate_name])
    description = models.TextField(blank=True, default="", validators=[validate_text])
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VLAN(models.Model):
    """A VLAN on a fabric; DHCP for it is served by its primary (or secondary) rack."""

    fabric = models.ForeignKey(Fabric, on_delete=models.CASCADE, related_name="vlans")
    vid = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=256, blank=True, default="", validators=[validate_name])
    mtu = models.PositiveIntegerField(default=1500)
    dhcp_on = models.BooleanField(default=False)
    primary_rack = models.ForeignKey(
        "zones.RackController", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    secondary_rack = models.ForeignKey(
        "zones.RackController", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    relay_vlan = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="relayed_by"
    )

    class Meta:
        ordering = ["fabric__name", "vid"]
        verbose_name = "VLAN"
        verbose_name_plural = "VLANs"
        constraints = [models.UniqueConstraint(fields=["fabric", "vid"], name="unique_fabric_vid")]

    def __str__(self) -> str:
        return f"{self.fabric.name}.{self.vid}"

    def clean(self) -> None:
        if self.vid is not None and self.vid > 4094:  # None: clean_fields says it
            raise ValidationError({"vid": "VLAN id must be between 0 and 4094."})
        if not 552 <= self.mtu <= 65535:
            raise ValidationError({"mtu": "MTU must be between 552 and 65535."})
        if self.primary_rack_id and self.primary_rack_id == self.secondary_rack_id:
            raise ValidationError({"secondary_rack": "Must differ from the primary rack."})
        if self.dhcp_on and not self.primary_rack_id:
            raise ValidationError({"dhcp_on": "DHCP needs a primary rack."})
        if self.relay_vlan_id and self.relay_vlan_id == self.pk:
            raise ValidationError({"relay_vlan": "A VLAN cannot relay to itself."})


class Subnet(models.Model):
    """An IP network on a VLAN."""

    name = models.CharField(max_length=256, blank=True, default="", validators=[validate_name])
    vlan = models.ForeignKey(VLAN, on_delete=models.PROTECT, related_name="subnets")
    cidr = models.CharField(max_length=64, unique=True)
    gateway_ip = models.GenericIPAddressField(null=True, blank=True)
    dns_servers = models.JSONField(default=list, blank=True)
    managed = models.BooleanField(default=True)
    allow_enlistment = models.BooleanField(default=True)
    # lpxelinux's lwIP now and then fails a load under load or on a reused port; iPXE's own
    # HTTP stack does not, so a subnet can chainload iPXE instead (Ironic's iPXE boot).
    bios_boot_loader = models.CharField(max_length=16, choices=BiosBootLoader.choices,
                                        default=BiosBootLoader.PXELINUX)

    class Meta:
        ordering = ["cidr"]

    def __str__(self) -> str:
        return self.name or self.cidr

    @property
    def network(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(self.cidr)

    def contains(self, ip: str) -> bool:
        return netaddr.IPAddress(ip) in self.network


class IPRange(models.Model):
    """A range of addresses in a subnet: dynamic (DHCP pool) or reserved."""

    subnet = models.ForeignKey(Subnet, on_delete=models.CASCADE, related_name="ipranges")
    type = models.CharField(max_length=16, choices=IPRangeType.choices)
    start_ip = models.GenericIPAddressField()
    end_ip = models.GenericIPAddressField()
    comment = models.CharField(max_length=256, blank=True, default="", validators=[validate_name])

    class Meta:
        ordering = ["subnet_id", "start_ip"]
        verbose_name = "IP range"
        verbose_name_plural = "IP ranges"

    def __str__(self) -> str:
        return f"{self.type} {self.start_ip}-{self.end_ip}"

    @property
    def netaddr_range(self) -> netaddr.IPRange:
        return netaddr.IPRange(self.start_ip, self.end_ip)


class StaticIPAddress(models.Model):
    """An address assigned in a subnet (to an interface, or reserved by a user)."""

    ip = models.GenericIPAddressField(unique=True)
    subnet = models.ForeignKey(Subnet, on_delete=models.CASCADE, related_name="static_ips")
    alloc_type = models.CharField(
        max_length=16, choices=IPAddressAllocType.choices, default=IPAddressAllocType.STICKY
    )
    interface = models.ForeignKey(
        "nodes.Interface", null=True, blank=True, on_delete=models.SET_NULL, related_name="ips"
    )
    user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ip"]
        verbose_name = "static IP address"
        verbose_name_plural = "static IP addresses"

    def __str__(self) -> str:
        return self.ip
