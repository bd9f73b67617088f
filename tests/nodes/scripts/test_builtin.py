"""The built-in scripts run under busybox sh on this host's /proc and /sys; the parser reads them.

Only busybox applets are on PATH, as in the initramfs (no lsblk, dmidecode, ethtool, udev).
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nodes.scripts.metadata import parse_script_metadata
from nodes.scripts.output import parse_output
from nodes.services.scripts import BUILTIN_DIR
from tests.processes import skip_or_fail

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
SCRIPTS = sorted(path.name for path in BUILTIN_DIR.iterdir())


@pytest.fixture(scope="module")
def busybox_path(tmp_path_factory) -> Path:
    if not os.path.exists(BUSYBOX):
        skip_or_fail("busybox is missing (apt-get install busybox-static)")
    bin_dir = tmp_path_factory.mktemp("busybox-bin")
    subprocess.run([BUSYBOX, "--install", "-s", str(bin_dir)], check=True)
    return bin_dir


def run(name: str, bin_dir: Path) -> str:
    result = subprocess.run(
        [str(bin_dir / "sh"), str(BUILTIN_DIR / name)], env={"PATH": str(bin_dir)},
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_metadata_block(name):
    body = (BUILTIN_DIR / name).read_text()
    meta = parse_script_metadata(body)
    assert body.startswith("#!/bin/sh\n")
    assert meta["name"] == name and meta["script_type"] == "commissioning"
    assert meta["parallel"] == "any" and 0 < meta["timeout"] <= 300


@pytest.mark.parametrize("name", SCRIPTS)
def test_output_parses_without_warnings(name, busybox_path):
    parsed = parse_output(name, run(name, busybox_path))
    assert parsed.warnings == []


def test_cpu_and_memory_match_the_host(busybox_path):
    cpu = parse_output("10-cpu", run("10-cpu", busybox_path)).data
    assert cpu["cpu_count"] == os.cpu_count()
    assert cpu["arch"] in {"amd64", "arm64", "i386", "armhf", "ppc64el", "s390x", "riscv64"}
    memory = parse_output("10-memory", run("10-memory", busybox_path)).data["memory_mib"]
    assert memory == installed_memory_mib()


def installed_memory_mib() -> int:
    """Online memory blocks times their size; MemTotal on kernels without memory blocks."""
    blocks = Path("/sys/devices/system/memory")
    if (blocks / "block_size_bytes").exists():
        size = int((blocks / "block_size_bytes").read_text(), 16)
        online = [p for p in blocks.glob("memory*/online") if p.read_text().strip() == "1"]
        if online:
            return size * len(online) >> 20
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    return int(meminfo[1]) // 1024


def test_block_devices_match_sys_block(busybox_path):
    disks = parse_output("20-block-devices", run("20-block-devices", busybox_path)).data
    expected = sorted(
        path.name for path in Path("/sys/block").iterdir()
        if (path / "device").exists()
        and not path.name.startswith(("loop", "ram", "zram", "sr", "dm-", "md", "nbd", "fd"))
    )
    assert sorted(d["name"] for d in disks) == expected
    for disk in disks:
        sectors = int((Path("/sys/block") / disk["name"] / "size").read_text())
        assert disk["size"] == sectors * 512 and disk["block_size"] >= 512
        assert disk["id_path"]


def test_network_lists_physical_nics(busybox_path):
    nics = parse_output("20-network", run("20-network", busybox_path)).data
    expected = sorted(p.name for p in Path("/sys/class/net").iterdir()
                      if p.name != "lo" and (p / "device").exists())
    assert sorted(n["name"] for n in nics) == expected
    for nic in nics:
        assert nic["mac"] == (Path("/sys/class/net") / nic["name"] / "address").read_text().strip()


def test_firmware_says_how_this_host_booted(busybox_path):
    firmware = parse_output("30-firmware", run("30-firmware", busybox_path))
    assert not firmware.warnings
    if not Path("/sys/firmware/efi").exists():
        assert firmware.data == {"firmware": "bios"}
    else:
        assert firmware.data["firmware"] == "uefi"
        assert firmware.data.get("secure_boot") in (None, "on", "off")


def test_dmi_and_bmc(busybox_path):
    dmi = parse_output("30-dmi", run("30-dmi", busybox_path)).data
    assert set(dmi) == {"vendor", "product", "version", "serial", "bios_vendor", "board_vendor",
                        "board_product"}
    vendor = Path("/sys/class/dmi/id/sys_vendor")
    if vendor.exists():
        assert dmi["vendor"] == vendor.read_text().strip()
    bmc = parse_output("30-bmc", run("30-bmc", busybox_path)).data
    assert bmc["bmc"] in {"present", "absent"}
    if Path("/dev/ipmi0").exists():
        assert bmc == {"bmc": "present", "source": "/dev/ipmi0"}
