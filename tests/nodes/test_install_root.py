"""install_root.sh (a real OS's deploy): the Debian 12 image installed by busybox sh on a loop
device with the storage plan the region renders, its own grub-install run chrooted; the disk is
then read back with this host's sfdisk and blkid, and mounted read-only. This host's kernel has
neither vfat nor the device mapper: the UEFI ESP and the lvm layout are installed in the lab
(tests/lab/test_debian_deploy.py, an OVMF VM with Secure Boot on and the lvm layout)."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nodes.bootimages import builder
from nodes.choices import Firmware, StorageLayout
from nodes.storage_layouts import TYPES, plan_shell, storage_plan
from tests.nodes.test_debian_image import built_debian  # noqa: F401 (the shared build)
from tests.processes import skip_or_fail

SCRIPT = str(builder.HERE / "install_root.sh")
GIB = 1 << 30
TOOLS = ("busybox", "losetup", "sfdisk", "mkfs.fat", "mke2fs", "lvm", "zstd", "blkid", "tar")
CLOUD_CFG = '{"datasource_list": ["MAAS"]}\n'
pytestmark = pytest.mark.integration


@pytest.fixture
def loop_disk(tmp_path):
    """A sparse 6 GiB loop device (partition scanning on), detached after."""
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if os.geteuid() != 0 or missing:
        skip_or_fail(f"needs root and {', '.join(TOOLS)} (missing: {', '.join(missing) or 'root'})")
    backing = tmp_path / "disk.img"
    with open(backing, "wb") as handle:
        handle.truncate(6 * GIB)
    device = subprocess.run(["losetup", "-P", "-f", "--show", str(backing)], capture_output=True,
                            text=True, check=True).stdout.strip()
    yield device
    subprocess.run(["losetup", "-d", device], check=False)


def install(device: str, layout: str, firmware: str, tmp_path: Path, image: Path,
            extra: bytes = b"") -> subprocess.CompletedProcess:
    plan = tmp_path / "plan"
    plan.write_text(plan_shell(storage_plan(layout, firmware, device)))
    cloud_cfg = tmp_path / "cloud.cfg"
    cloud_cfg.write_text(CLOUD_CFG)
    with open(image, "rb") as stream:
        data = stream.read() + extra
    return subprocess.run(["busybox", "sh", SCRIPT, device, str(plan)], input=data,
                          capture_output=True, timeout=600, check=False,
                          env={**os.environ, "METAL_CLOUD_CFG": str(cloud_cfg),
                               "METAL_LIB": str(builder.HERE)})


def partitions(device: str) -> list[dict]:
    table = json.loads(subprocess.run(["sfdisk", "--json", device], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    assert table["label"] == "gpt"
    return table["partitions"]


def blkid(device: str, tag: str) -> str:
    return subprocess.run(["blkid", "-s", tag, "-o", "value", device], capture_output=True,
                          text=True, check=False).stdout.strip()


class Mounted:
    """A file system mounted read-only for reading back."""

    def __init__(self, device: str, where: Path):
        self.device, self.where = device, where

    def __enter__(self) -> Path:
        self.where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-o", "ro", self.device, str(self.where)], check=True)
        return self.where

    def __exit__(self, *_):
        subprocess.run(["umount", str(self.where)], check=True)


def check_root(root: Path, uuid: str, esp_uuid: str = "") -> str:
    """What every layout has on its root; the kernel line of grub.cfg."""
    fstab = (root / "etc/fstab").read_text()
    assert f"UUID={uuid} / ext4 errors=remount-ro 0 1" in fstab
    if esp_uuid:
        assert f"UUID={esp_uuid} /boot/efi vfat umask=0077 0 1" in fstab
    cfg = root / "etc/cloud/cloud.cfg.d/90_metal_maas.cfg"
    assert cfg.read_text() == CLOUD_CFG and cfg.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/ssh").is_dir() and not list((root / "etc/ssh").glob("ssh_host_*"))
    kernel = next(line for line in (root / "boot/grub/grub.cfg").read_text().splitlines()
                  if line.strip().startswith("linux") and "vmlinuz" in line)
    return kernel


def test_flat_layout_on_bios(loop_disk, tmp_path, built_debian):  # noqa: F811
    done = install(loop_disk, StorageLayout.FLAT, Firmware.BIOS, tmp_path,
                   built_debian[0].image)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    boot, root = partitions(loop_disk)
    assert boot["type"] == TYPES["bios_boot"] and boot["size"] == 2048
    assert root["type"] == TYPES["linux"] and root["start"] == 4096
    uuid = blkid(root["node"], "UUID")
    assert blkid(root["node"], "TYPE") == "ext4" and f"root UUID={uuid}" in done.stderr.decode()
    assert re.search(r"timings: partitions and file systems [\d.]+ s, download and unpack "
                     r"[\d.]+ s, boot loader [\d.]+ s, checks and unmount [\d.]+ s\n",
                     done.stderr.decode())
    with open(loop_disk, "rb") as disk:
        mbr = disk.read(512)
    assert b"GRUB" in mbr and mbr[510:] == b"\x55\xaa"  # grub-pc's boot.img
    with Mounted(root["node"], tmp_path / "root") as mounted:
        kernel = check_root(mounted, uuid)
        assert f"root=UUID={uuid}" in kernel
        assert not (mounted / "boot/efi/EFI").exists()


def test_an_incomplete_plan_and_a_partition_are_refused(loop_disk, tmp_path):
    env = {**os.environ, "METAL_LIB": str(builder.HERE)}
    (tmp_path / "plan").write_text("FIRMWARE='bios'\nLAYOUT='flat'\n")
    done = subprocess.run(["busybox", "sh", SCRIPT, loop_disk, str(tmp_path / "plan")],
                          input=b"x" * 4096, capture_output=True, timeout=60, check=False, env=env)
    assert done.returncode == 1 and b"is incomplete" in done.stderr
    subprocess.run(["sfdisk", "--quiet", loop_disk], input="label: gpt\n,\n", text=True,
                   capture_output=True, check=True)
    subprocess.run(["partx", "-a", loop_disk], capture_output=True, check=False)  # loop devices
    (tmp_path / "plan").write_text(plan_shell(storage_plan(StorageLayout.FLAT, Firmware.BIOS,
                                                           loop_disk)))
    partition = subprocess.run(["busybox", "sh", SCRIPT, f"{loop_disk}p1", str(tmp_path / "plan")],
                               capture_output=True, timeout=60, check=False, env=env)
    assert partition.returncode == 1
    assert b"is a partition, not a whole disk" in partition.stderr, partition.stderr


def test_a_corrupt_tarball_fails_and_reads_all_its_input(loop_disk, tmp_path):
    (tmp_path / "bad.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 4096)
    done = install(loop_disk, StorageLayout.FLAT, Firmware.BIOS, tmp_path,
                   tmp_path / "bad.tar.zst", extra=b"\0" * (8 << 20))
    assert done.returncode == 1
    assert b"unpacking the root tarball failed" in done.stderr
    assert b"is not bootable" in done.stderr
