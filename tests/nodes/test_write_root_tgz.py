"""write_root_tgz.sh (the root tarball deploy): run by busybox sh against a loop device with
this host's mke2fs and extlinux; the disk is then read back with the host's own tools."""
import gzip
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from nodes.bootimages import builder
from tests.processes import skip_or_fail

SCRIPT = str(builder.HERE / "write_root_tgz.sh")
SCRIPT_ENV = {**os.environ, "METAL_LIB": str(builder.HERE)}  # disk.sh from the source tree
MBR_BIN = Path("/usr/lib/syslinux/mbr/mbr.bin")
MIB = 1 << 20
TOOLS = ("busybox", "losetup", "mke2fs", "extlinux", "blkid", "debugfs")


def tarball(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A gzipped tar of these files (and symlinks), as a root tarball holds them."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"./{name}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


@pytest.fixture
def loop_disk(tmp_path):
    """A 96 MiB loop device (partition scanning on), detached after."""
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if os.geteuid() != 0 or missing or not MBR_BIN.is_file():
        skip_or_fail(f"needs root, {', '.join(TOOLS)} and syslinux-common "
                     f"(missing: {', '.join(missing) or 'root'})")
    backing = tmp_path / "disk.img"
    with open(backing, "wb") as handle:
        handle.truncate(96 * MIB)
    device = subprocess.run(["losetup", "-P", "-f", "--show", str(backing)], capture_output=True,
                            text=True, check=True).stdout.strip()
    yield device, backing
    subprocess.run(["losetup", "-d", device], check=False)
    Path(f"{device}p1").unlink(missing_ok=True)  # a node the script may have made


def run_script(device: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(["busybox", "sh", SCRIPT, device], input=stdin, capture_output=True,
                          timeout=120, check=False, env=SCRIPT_ENV)


def debugfs_cat(partition: str, path: str) -> str:
    """A file of the ext4 partition, read without mounting it."""
    return subprocess.run(["debugfs", "-R", f"cat {path}", partition], capture_output=True,
                          check=True).stdout.decode(errors="replace")


def test_tarball_is_unpacked_on_a_bootable_ext4_partition(loop_disk):
    device, backing = loop_disk
    root = tarball({"boot/vmlinuz-6.1.0-9-amd64": b"old", "boot/vmlinuz-6.1.0-10-amd64": b"k",
                    "boot/initrd.img-6.1.0-10-amd64": b"i", "etc/fstab": b"# none\n",
                    "etc/hostname": b"metal\n"}, {"vmlinuz": "boot/vmlinuz-6.1.0-10-amd64"})
    done = run_script(device, root)
    assert done.returncode == 0, done.stderr.decode()
    head = backing.read_bytes()[:512]
    assert head[:440] == MBR_BIN.read_bytes()[:440]
    entry = head[446:462]
    assert (entry[0], entry[4]) == (0x80, 0x83)  # bootable, Linux
    assert int.from_bytes(entry[8:12], "little") == 2048
    assert int.from_bytes(entry[12:16], "little") == 96 * 2048 - 2048
    assert head[462:510] == b"\0" * 48 and head[510:] == b"\x55\xaa"
    partition = f"{device}p1"
    uuid = subprocess.run(["blkid", "-s", "UUID", "-o", "value", partition], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert f"UUID={uuid})" in done.stderr.decode()
    config = debugfs_cat(partition, "/boot/extlinux/extlinux.conf")
    assert "  LINUX /boot/vmlinuz-6.1.0-10-amd64\n" in config  # the newest, by version
    assert "  INITRD /boot/initrd.img-6.1.0-10-amd64\n" in config
    assert f"  APPEND root=UUID={uuid} ro console=tty0 console=ttyS0,115200\n" in config
    assert config.startswith("SERIAL 0 115200\n")
    assert debugfs_cat(partition, "/etc/fstab") == (
        f"# none\nUUID={uuid} / ext4 errors=remount-ro 0 1\n")
    assert debugfs_cat(partition, "/etc/hostname") == "metal\n"
    assert "SYSLINUX" in debugfs_cat(partition, "/boot/extlinux/ldlinux.sys")
    vbr = backing.read_bytes()[2048 * 512:2048 * 512 + 512]
    assert vbr[510:] == b"\x55\xaa" and vbr[3:11] == b"SYSLINUX"  # extlinux's boot sector


def test_a_tarball_without_a_kernel_fails_and_reads_all_its_input(loop_disk):
    device, _ = loop_disk
    root = tarball({"etc/hostname": b"metal\n"})
    padded = root + b"\0" * (4 * MIB)  # tar stops before this; the runner's sha256 must not
    reader = subprocess.Popen(["busybox", "sh", SCRIPT, device], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=SCRIPT_ENV)
    _, stderr = reader.communicate(padded, timeout=120)  # BrokenPipeError if it stopped reading
    assert reader.returncode == 1
    assert b"the tarball has no /boot/vmlinuz-*: nothing to boot" in stderr
    assert b"is not bootable" in stderr


def test_partitions_and_non_devices_are_refused(loop_disk, tmp_path):
    device, _ = loop_disk
    assert run_script(device, tarball({"boot/vmlinuz-1": b"k"})).returncode == 0
    partition = run_script(f"{device}p1", b"")
    assert partition.returncode == 1 and b"is a partition, not a whole disk" in partition.stderr
    plain = run_script(str(tmp_path / "disk.img"), b"")
    assert plain.returncode == 1 and b"is not a block device" in plain.stderr
