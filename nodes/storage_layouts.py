"""Storage layouts as data: the partitions, file systems and volumes a deploy makes on the boot
disk for a root tarball, by layout (MAAS's `flat` and `lvm`) and firmware.

Always GPT. UEFI: an EFI system partition first (vfat, /boot/efi), where shim and GRUB go, with
the removable fallback path. BIOS: a 1 MiB BIOS boot partition first, where grub-pc embeds its
core image (GPT has no post-MBR gap). Then the root: ext4 on the rest of the disk (`flat`), or an
LVM physical volume on the rest with one volume group and a root logical volume filling it
(`lvm`; GRUB reads LVM, so no separate /boot). Sizes in bytes; `None` = the rest.
"""
from nodes.choices import Firmware, StorageLayout

MIB = 1 << 20
GIB = 1 << 30
ESP_SIZE = 512 * MIB
BIOS_BOOT_SIZE = 1 * MIB
MIN_ROOT = 4 * GIB  # Debian 12 with cloud-init unpacks to ~1 GiB; room for the first updates
ALIGNMENT = MIB  # the first partition starts at 1 MiB; GPT's backup takes the last 33 sectors
VG_NAME, LV_NAME = "vgroot", "lvroot"
# GPT partition type GUIDs (as sfdisk takes them).
TYPES = {"esp": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
         "bios_boot": "21686148-6449-6E6F-744E-656564454649",
         "linux": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
         "lvm": "E6D6D379-F507-44C2-A23C-238F2A3DF928"}


def boot_partition(firmware: str) -> dict:
    """The first partition: the ESP on UEFI, the BIOS boot partition otherwise."""
    if firmware == Firmware.UEFI:
        return {"name": "esp", "type": TYPES["esp"], "size": ESP_SIZE, "fs": "vfat",
                "mount": "/boot/efi"}
    return {"name": "bios_boot", "type": TYPES["bios_boot"], "size": BIOS_BOOT_SIZE}


def minimum_size(firmware: str) -> int:
    """The smallest disk any layout fits on with this firmware."""
    return ALIGNMENT + boot_partition(firmware)["size"] + MIN_ROOT + ALIGNMENT


def storage_plan(layout: str, firmware: str, disk: str) -> dict:
    """What the deploy makes on `disk` (a device path, '' for the runner's first disk)."""
    if layout not in StorageLayout.values:
        raise ValueError(f"unknown storage layout {layout!r}")
    root = {"name": "root", "type": TYPES["linux"], "size": None, "fs": "ext4", "mount": "/"}
    plan = {"layout": layout, "firmware": firmware or Firmware.BIOS, "disk": disk,
            "table": "gpt", "partitions": [boot_partition(firmware), root], "volumes": []}
    if layout == StorageLayout.LVM:
        plan["partitions"][1] = {"name": "pv", "type": TYPES["lvm"], "size": None}
        plan["volumes"] = [{"vg": VG_NAME, "pv": "pv", "lv": LV_NAME, "size": None,
                            "fs": "ext4", "mount": "/"}]
    return plan


def plan_shell(plan: dict) -> str:
    """The plan as the shell variables install_root.sh reads: the firmware and layout, the GPT
    as sfdisk takes it, and the numbers of the ESP, the root partition or the LVM PV."""
    lines = ["label: gpt"]
    numbers = {}
    for number, partition in enumerate(plan["partitions"], start=1):
        numbers[partition["name"]] = number
        size = f"size={partition['size'] // MIB}MiB, " if partition["size"] else ""
        lines.append(f"{size}type={partition['type']}, name={partition['name']}")
    volume = plan["volumes"][0] if plan["volumes"] else {}
    values = {"FIRMWARE": plan["firmware"], "LAYOUT": plan["layout"], "TABLE": "\n".join(lines),
              "ESP": numbers.get("esp", ""), "ROOT_PART": numbers.get("root", ""),
              "PV_PART": numbers.get(volume.get("pv"), ""), "VG": volume.get("vg", ""),
              "LV": volume.get("lv", "")}
    return "".join(f"{name}='{value}'\n" for name, value in values.items())
