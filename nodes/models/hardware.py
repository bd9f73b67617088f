"""Hardware inventory: network interfaces and block devices of a machine."""
import re

from django.core.exceptions import ValidationError
from django.db import models
from netaddr import EUI, AddrFormatError, mac_unix_expanded

from maasproject.validators import validate_name
from nodes.choices import BlockDeviceType, InterfaceType

_HEX2 = "[0-9A-Fa-f]{2}"
_HEX4 = "[0-9A-Fa-f]{4}"
MAC_FORMAT = re.compile(
    rf"{_HEX2}(?P<sep>[:-]){_HEX2}(?:(?P=sep){_HEX2}){{4}}|{_HEX4}\.{_HEX4}\.{_HEX4}|[0-9A-Fa-f]{{12}}"
)


def normalise_mac(value: str) -> str:
    """Return a MAC as lowercase colon-separated hex, or raise ValidationError."""
    try:
        mac = EUI(str(value).strip())
    except (AddrFormatError, TypeError, ValueError) as exc:
        raise ValidationError(f"'{value}' is not a valid MAC address.") from exc
    if mac.version != 48:
        raise ValidationError(f"'{value}' is not a 48-bit MAC address.")
    mac.dialect = mac_unix_expanded
    return str(mac)


def unicast_mac(value) -> str:
    """A MAC given as text (colons, hyphens, dots or bare hex), unicast, in lowercase colon form.

    ValidationError for anything else: a number, another format, broadcast or multicast.
    """
    if not isinstance(value, str) or not MAC_FORMAT.fullmatch(value.strip()):
        raise ValidationError(f"'{value}' is not a MAC address (like 52:54:00:12:34:56).",
                              code="invalid")
    mac = normalise_mac(value)
    if int(mac[:2], 16) & 1:
        raise ValidationError(f"{mac} is a broadcast or multicast address, not an interface's.",
                              code="multicast")
    return mac


def validate_unicast_mac(value) -> None:
    """Model validator: refuse what unicast_mac refuses."""
    unicast_mac(value)


class Interface(models.Model):
    """A network interface: physical (its MAC unique across the region), or a bond, bridge or
    VLAN interface over `parents`, whose MAC is NULL unless given its own (then its parent's)."""

    machine = models.ForeignKey(
        "nodes.Machine", on_delete=models.CASCADE, related_name="interfaces"
    )
    name = models.CharField(max_length=64, validators=[validate_name])
    type = models.CharField(
        max_length=16, choices=InterfaceType.choices, default=InterfaceType.PHYSICAL
    )
    # NULL only for a bond, bridge or VLAN interface without a MAC of its own: every lookup by
    # MAC (DHCP, boot, enlistment, inventory) then finds physical interfaces only.
    mac_address = models.CharField(max_length=17, unique=True, null=True, blank=True,
                                   validators=[validate_unicast_mac])
    parents = models.ManyToManyField("self", symmetrical=False, related_name="children",
                                     blank=True)
    # MAAS's interface params: mtu, bond_* and bridge_* options.
    params = models.JSONField(default=dict, blank=True)
    vlan = models.ForeignKey(
        "zones.VLAN", null=True, blank=True, on_delete=models.SET_NULL, related_name="interfaces"
    )
    enabled = models.BooleanField(default=True)
    link_speed = models.PositiveIntegerField(default=0, help_text="Mbit/s")

    class Meta:
        ordering = ["machine_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "name"], name="unique_interface_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.mac_address or self.type}"

    def save(self, *args, **kwargs) -> None:
        if self.mac_address:
            self.mac_address = normalise_mac(self.mac_address)
        else:
            self.mac_address = None
        super().save(*args, **kwargs)

    def parents_in_order(self) -> list["Interface"]:
        """Its parents in the order they were given (the first one lends its MAC)."""
        rows = Interface.parents.through.objects.filter(from_interface=self).order_by("id")
        return [row.to_interface for row in rows.select_related("to_interface")]

    @property
    def effective_mac_address(self) -> str | None:
        """Its own MAC, else its first parent's (a bond's, bridge's or VLAN's), as MAAS shows."""
        interface, seen = self, set()
        while not interface.mac_address and interface.pk not in seen:
            seen.add(interface.pk)
            parents = interface.parents_in_order() if interface.pk else []
            if not parents:
                return None
            interface = parents[0]
        return interface.mac_address


class BlockDevice(models.Model):
    """A disk of a machine."""

    machine = models.ForeignKey(
        "nodes.Machine", on_delete=models.CASCADE, related_name="block_devices"
    )
    name = models.CharField(max_length=64, validators=[validate_name])
    type = models.CharField(
        max_length=16, choices=BlockDeviceType.choices, default=BlockDeviceType.PHYSICAL
    )
    size = models.BigIntegerField(help_text="bytes")
    block_size = models.PositiveIntegerField(default=512)
    model = models.CharField(max_length=128, blank=True, default="", validators=[validate_name])
    serial = models.CharField(max_length=128, blank=True, default="", validators=[validate_name])
    id_path = models.CharField(max_length=256, blank=True, default="", validators=[validate_name])
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["machine_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "name"], name="unique_blockdevice_name")
        ]

    def __str__(self) -> str:
        return self.name
