"""Tools in the ephemeral initramfs (dropbear, zstd, mke2fs, extlinux): binaries plus the shared
libraries ldd names, taken from the Debian packages (parse and copy rules; then the real
packages, run in a chroot holding nothing else)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nodes.bootimages import tools
from nodes.bootimages.debs import BuildError, download
from tests.processes import skip_or_fail

CACHE_DIR = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))


def test_parse_ldd_keeps_libraries_under_the_unpacked_root(tmp_path):
    root = tmp_path / "ssh"
    text = (f"\tlinux-vdso.so.1 (0x00007ffd)\n"
            f"\tlibz.so.1 => {root}/lib/x86_64-linux-gnu/libz.so.1 (0x00007f01)\n"
            f"\tlibc.so.6 => {root}/lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)\n"
            "\t/lib64/ld-linux-x86-64.so.2 (0x00007f03)\n")
    libraries, loader = tools.parse_ldd(text, root)
    assert [p.name for p in libraries] == ["libz.so.1", "libc.so.6"]
    assert loader == Path("/lib64/ld-linux-x86-64.so.2")


@pytest.mark.parametrize(("line", "message"), [
    ("\tlibgmp.so.10 => not found\n", "libgmp.so.10 not found"),
    ("\tlibgmp.so.10 => /lib/x86_64-linux-gnu/libgmp.so.10 (0x1)\n", "this host's"),
])
def test_parse_ldd_refuses_missing_or_host_libraries(tmp_path, line, message):
    with pytest.raises(BuildError, match=message):
        tools.parse_ldd(line, tmp_path / "ssh")


def test_real_file_follows_links_inside_the_tree(tmp_path):
    lib = tmp_path / "lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libz.so.1.2.13").write_bytes(b"z")
    (lib / "libz.so.1").symlink_to("libz.so.1.2.13")
    (tmp_path / "lib64").mkdir()
    (tmp_path / "lib64/ld.so").symlink_to("/lib/x86_64-linux-gnu/libz.so.1")  # absolute
    assert tools.real_file(tmp_path, lib / "libz.so.1") == lib / "libz.so.1.2.13"
    assert tools.real_file(tmp_path, tmp_path / "lib64/ld.so") == lib / "libz.so.1.2.13"


def chroot(root: Path, *command: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(["chroot", str(root), *command], input=stdin, capture_output=True,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> tuple[Path, list[str]]:
    """Every toolset staged from the real Debian packages into an otherwise empty root."""
    reason = None
    if os.geteuid() != 0:
        reason = "needs root (apt-get download into a root-owned cache, chroot)"
    elif not all(shutil.which(tool) for tool in ("apt-get", "apt-cache", "dpkg", "ldd")):
        reason = "needs apt-get, dpkg and ldd"
    if reason:
        skip_or_fail(reason)
    tmp_path = tmp_path_factory.mktemp("tools")
    debs = [download(p, CACHE_DIR, lambda _: None) for p in tools.resolve_tool_packages()]
    root, lines = tmp_path / "root", []
    tools.stage_tools(root, debs, tmp_path / "work", lines.append)
    (root / "tmp").mkdir()
    return root, lines


@pytest.mark.integration
def test_dropbear_runs_in_a_chroot_of_its_files(staged):
    """dropbearkey makes and reads a host key; dropbear starts."""
    root, lines = staged
    assert (root / "lib64/ld-linux-x86-64.so.2").is_file()
    assert "libtomcrypt.so.1" in lines[-1] and "libc.so.6" in lines[-1]
    made = chroot(root, "/usr/bin/dropbearkey", "-t", "ed25519", "-f", "/hostkey")
    assert made.returncode == 0, made.stderr
    shown = chroot(root, "/usr/bin/dropbearkey", "-y", "-f", "/hostkey")
    assert shown.returncode == 0, shown.stderr
    assert b"ssh-ed25519 " in shown.stdout and b"Fingerprint: SHA256:" in shown.stdout
    version = chroot(root, "/usr/sbin/dropbear", "-V")
    assert b"Dropbear" in version.stdout + version.stderr


@pytest.mark.integration
def test_zstd_round_trips_in_a_chroot_of_its_files(staged):
    root, _ = staged
    data = os.urandom(1000) * 300
    packed = chroot(root, "/usr/bin/zstd", "-q", "-c", stdin=data)
    assert packed.returncode == 0, packed.stderr
    unpacked = chroot(root, "/usr/bin/zstd", "-d", "-c", stdin=packed.stdout)
    assert unpacked.stdout == data


@pytest.mark.integration
def test_disk_tools_run_in_a_chroot_of_their_files(staged):
    """mkfs.ext4 makes a filesystem with its built-in defaults (no mke2fs.conf in the
    initramfs), extlinux runs, and mbr.bin is there."""
    root, _ = staged
    with open(root / "tmp/fs.img", "wb") as handle:
        handle.truncate(32 << 20)
    made = chroot(root, "/sbin/mkfs.ext4", "-F", "-q", "-L", "metal-root", "/tmp/fs.img")
    assert made.returncode == 0, made.stderr
    magic = (root / "tmp/fs.img").read_bytes()[1024 + 56:1024 + 58]
    assert magic == b"\x53\xef"  # the ext2/3/4 superblock magic
    version = chroot(root, "/usr/bin/extlinux", "--version")
    assert b"extlinux 6.04" in version.stdout + version.stderr
    assert (root / "usr/lib/syslinux/mbr/mbr.bin").stat().st_size == 440
