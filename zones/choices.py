"""Choice enumerations for the zones app."""
from django.db import models


class IPRangeType(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic"
    RESERVED = "reserved", "Reserved"


class IPAddressAllocType(models.TextChoices):
    AUTO = "auto", "Automatic"
    STICKY = "sticky", "Sticky"
    USER_RESERVED = "user_reserved", "User reserved"
    DISCOVERED = "discovered", "Discovered"


class RackStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DEGRADED = "degraded", "Degraded"
    DEAD = "dead", "Dead"


# Service states a rack reports that make it degraded (others: running, off, starting).
FAULTY_STATES = ("failed", "degraded")


class LeaseState(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class BiosBootLoader(models.TextChoices):
    """What a subnet's BIOS PXE clients chainload: PXELINUX as MAAS does, or iPXE as Ironic."""

    PXELINUX = "pxelinux", "PXELINUX (lpxelinux.0)"
    IPXE = "ipxe", "iPXE (undionly.kpxe)"
