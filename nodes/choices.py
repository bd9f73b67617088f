"""Choice enumerations for machines: MAAS's statuses (codes and names), power, events."""
from django.db import models


class NodeStatus(models.IntegerChoices):
    """MAAS's 23 node statuses, with its numeric codes and display names."""

    NEW = 0, "New"
    COMMISSIONING = 1, "Commissioning"
    FAILED_COMMISSIONING = 2, "Failed commissioning"
    MISSING = 3, "Missing"
    READY = 4, "Ready"
    RESERVED = 5, "Reserved"
    DEPLOYED = 6, "Deployed"
    RETIRED = 7, "Retired"
    BROKEN = 8, "Broken"
    DEPLOYING = 9, "Deploying"
    ALLOCATED = 10, "Allocated"
    FAILED_DEPLOYMENT = 11, "Failed deployment"
    RELEASING = 12, "Releasing"
    FAILED_RELEASING = 13, "Releasing failed"
    DISK_ERASING = 14, "Disk erasing"
    FAILED_DISK_ERASING = 15, "Failed disk erasing"
    RESCUE_MODE = 16, "Rescue mode"
    ENTERING_RESCUE_MODE = 17, "Entering rescue mode"
    FAILED_ENTERING_RESCUE_MODE = 18, "Failed to enter rescue mode"
    EXITING_RESCUE_MODE = 19, "Exiting rescue mode"
    FAILED_EXITING_RESCUE_MODE = 20, "Failed to exit rescue mode"
    TESTING = 21, "Testing"
    FAILED_TESTING = 22, "Failed testing"


class StorageLayout(models.TextChoices):
    """How a deploy partitions the boot disk for a root tarball (MAAS's layout names)."""

    FLAT = "flat", "Flat"
    LVM = "lvm", "LVM"


class Firmware(models.TextChoices):
    """How a machine boots: legacy BIOS or UEFI (MAAS's bios_boot_method pxe / uefi)."""

    BIOS = "bios", "BIOS"
    UEFI = "uefi", "UEFI"


class PowerState(models.TextChoices):
    ON = "on", "On"
    OFF = "off", "Off"
    UNKNOWN = "unknown", "Unknown"
    ERROR = "error", "Error"


class EventLevel(models.IntegerChoices):
    """Python logging levels plus AUDIT for user actions (as MAAS does)."""

    DEBUG = 10, "DEBUG"
    INFO = 20, "INFO"
    AUDIT = 0, "AUDIT"
    WARNING = 30, "WARNING"
    ERROR = 40, "ERROR"


class BlockDeviceType(models.TextChoices):
    PHYSICAL = "physical", "Physical"
    VIRTUAL = "virtual", "Virtual"


class InterfaceType(models.TextChoices):
    PHYSICAL = "physical", "Physical"
    BOND = "bond", "Bond"
    VLAN = "vlan", "VLAN"
    BRIDGE = "bridge", "Bridge"


class BootResourceKind(models.TextChoices):
    EPHEMERAL = "ephemeral", "Ephemeral"
    DEPLOYABLE = "deployable", "Deployable"
    BOOTLOADER = "bootloader", "Boot loader"


class BootResourceOrigin(models.TextChoices):
    SYNCED = "synced", "Synced"
    UPLOADED = "uploaded", "Uploaded"


class BootResourceFileType(models.TextChoices):
    KERNEL = "kernel", "Kernel"
    INITRD = "initrd", "Initrd"
    ROOT_IMAGE = "root-image", "Root image"
    ROOT_TGZ = "root-tgz", "Root tarball"
    LOADER = "loader", "Boot loader"


class BootImportState(models.TextChoices):
    """Where the last boot image import is (nodes.services.bootimport)."""

    NONE = "", "Never run"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class BootResourceFileFormat(models.TextChoices):
    """How a deployable root image is stored (nodes.bootimages.formats); blank for other files."""

    NONE = "", "Not a deployable image"
    RAW = "raw", "Raw disk image"
    GZ = "gz", "Raw disk image, gzip"
    ZST = "zst", "Raw disk image, zstd"
    TGZ = "tgz", "Root tarball, gzip"
    TZST = "tzst", "Root tarball, zstd"


class ScriptType(models.TextChoices):
    """When a script runs (MAAS's script_type)."""

    COMMISSIONING = "commissioning", "Commissioning"
    TESTING = "testing", "Testing"


class HardwareType(models.TextChoices):
    NODE = "node", "Node"
    CPU = "cpu", "CPU"
    MEMORY = "memory", "Memory"
    STORAGE = "storage", "Storage"
    NETWORK = "network", "Network"


class ScriptParallel(models.TextChoices):
    """MAAS's parallel: disabled runs alone, instance beside other instances of itself, any
    beside any script that allows it."""

    DISABLED = "disabled", "Disabled"
    INSTANCE = "instance", "Instance"
    ANY = "any", "Any"


class ScriptStatus(models.TextChoices):
    """The state of one script's run (MAAS's SCRIPT_STATUS names)."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    TIMEDOUT = "timedout", "Timed out"
    ABORTED = "aborted", "Aborted"
    SKIPPED = "skipped", "Skipped"


class ResultType(models.TextChoices):
    """What a script set was run for."""

    COMMISSIONING = "commissioning", "Commissioning"
    TESTING = "testing", "Testing"
    ENLISTMENT = "enlistment", "Enlistment"
    DEPLOYMENT = "deployment", "Deployment"


class LinkMode(models.TextChoices):
    """How an interface is configured on a subnet (MAAS's link modes, stored lower case)."""

    AUTO = "auto", "AUTO"
    DHCP = "dhcp", "DHCP"
    STATIC = "static", "STATIC"
    LINK_UP = "link_up", "LINK_UP"
