"""Storage layouts as data: every layout on every firmware, tested as a table."""
import subprocess

import pytest

from nodes.choices import Firmware
from nodes.storage_layouts import (
    BIOS_BOOT_SIZE,
    ESP_SIZE,
    GIB,
    MIN_ROOT,
    TYPES,
    minimum_size,
    plan_shell,
    storage_plan,
)

LAYOUTS = {
    ("flat", "uefi"): (["esp", "root"], []),
    ("flat", "bios"): (["bios_boot", "root"], []),
    ("lvm", "uefi"): (["esp", "pv"], ["lvroot"]),
    ("lvm", "bios"): (["bios_boot", "pv"], ["lvroot"]),
}


@pytest.mark.parametrize(("layout", "firmware"), list(LAYOUTS))
def test_each_layout_and_firmware(layout, firmware):
    plan = storage_plan(layout, firmware, "/dev/vda")
    partitions, volumes = LAYOUTS[(layout, firmware)]
    assert plan["table"] == "gpt" and plan["disk"] == "/dev/vda"
    assert [p["name"] for p in plan["partitions"]] == partitions
    assert [v["lv"] for v in plan["volumes"]] == volumes
    assert plan["partitions"][-1]["size"] is None  # the rest of the disk
    roots = [p for p in plan["partitions"] + plan["volumes"] if p.get("mount") == "/"]
    assert len(roots) == 1 and roots[0]["fs"] == "ext4"


def test_the_first_partition_is_what_the_firmware_boots_from():
    esp = storage_plan("flat", "uefi", "")["partitions"][0]
    assert (esp["type"], esp["size"], esp["fs"], esp["mount"]) == (
        TYPES["esp"], ESP_SIZE, "vfat", "/boot/efi")
    bios = storage_plan("lvm", "", "")["partitions"][0]  # firmware unknown: BIOS
    assert (bios["type"], bios["size"]) == (TYPES["bios_boot"], BIOS_BOOT_SIZE)


def test_minimum_size_holds_the_boot_partition_and_the_root():
    assert minimum_size("uefi") > ESP_SIZE + MIN_ROOT > minimum_size("bios") - GIB


def test_an_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="unknown storage layout 'bcache'"):
        storage_plan("bcache", "uefi", "")


@pytest.mark.parametrize(("layout", "firmware", "expected"), [
    ("flat", Firmware.BIOS, "bios flat  2   "),
    ("lvm", Firmware.UEFI, "uefi lvm 1  2 vgroot lvroot"),
])
def test_the_plan_as_install_root_sh_reads_it(layout, firmware, expected):
    """Sourced by sh: the variables, and the GPT sfdisk takes (sizes in MiB, the rest last)."""
    script = plan_shell(storage_plan(layout, firmware, "/dev/vda")) + (
        'echo "$FIRMWARE $LAYOUT $ESP $ROOT_PART $PV_PART $VG $LV"\nprintf "%s\\n" "$TABLE"\n')
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    variables, *table = done.stdout.splitlines()
    assert variables == expected
    boot = "size=512MiB, type=" + TYPES["esp"] if firmware == Firmware.UEFI else \
        "size=1MiB, type=" + TYPES["bios_boot"]
    rest = TYPES["lvm"] + ", name=pv" if layout == "lvm" else TYPES["linux"] + ", name=root"
    name = "esp" if firmware == Firmware.UEFI else "bios_boot"
    assert table == ["label: gpt", f"{boot}, name={name}", f"type={rest}"]
