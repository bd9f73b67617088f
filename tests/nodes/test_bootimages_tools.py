"""dropbear in the ephemeral initramfs: binaries plus the shared libraries ldd names, taken from
the Debian packages (parse and copy rules; then the real packages, run in a chroot)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nodes.bootimages import dropbear
from nodes.bootimages.debs import BuildError, download
from tests.processes import skip_or_fail

CACHE_DIR = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))


def test_parse_ldd_keeps_libraries_under_the_unpacked_root(tmp_path):
    root = tmp_path / "ssh"
    text = (f"\tlinux-vdso.so.1 (0x00007ffd)\n"
            f"\tlibz.so.1 => {root}/lib/x86_64-linux-gnu/libz.so.1 (0x00007f01)\n"
            f"\tlibc.so.6 => {root}/lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)\n"
            "\t/lib64/ld-linux-x86-64.so.2 (0x00007f03)\n")
    libraries, loader = dropbear.parse_ldd(text, root)
    assert [p.name for p in libraries] == ["libz.so.1", "libc.so.6"]
    assert loader == Path("/lib64/ld-linux-x86-64.so.2")


@pytest.mark.parametrize(("line", "message"), [
    ("\tlibgmp.so.10 => not found\n", "libgmp.so.10 not found"),
    ("\tlibgmp.so.10 => /lib/x86_64-linux-gnu/libgmp.so.10 (0x1)\n", "this host's"),
])
def test_parse_ldd_refuses_missing_or_host_libraries(tmp_path, line, message):
    with pytest.raises(BuildError, match=message):
        dropbear.parse_ldd(line, tmp_path / "ssh")


def test_real_file_follows_links_inside_the_tree(tmp_path):
    lib = tmp_path / "lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libz.so.1.2.13").write_bytes(b"z")
    (lib / "libz.so.1").symlink_to("libz.so.1.2.13")
    (tmp_path / "lib64").mkdir()
    (tmp_path / "lib64/ld.so").symlink_to("/lib/x86_64-linux-gnu/libz.so.1")  # absolute
    assert dropbear.real_file(tmp_path, lib / "libz.so.1") == lib / "libz.so.1.2.13"
    assert dropbear.real_file(tmp_path, tmp_path / "lib64/ld.so") == lib / "libz.so.1.2.13"


@pytest.mark.integration
def test_dropbear_from_the_debian_packages_runs_in_a_chroot_of_its_files(tmp_path):
    """What stage_ssh copies is enough: dropbearkey makes and reads a host key in a chroot
    holding nothing else."""
    reason = None
    if os.geteuid() != 0:
        reason = "needs root (apt-get download into a root-owned cache, chroot)"
    elif not all(shutil.which(tool) for tool in ("apt-get", "apt-cache", "dpkg", "ldd")):
        reason = "needs apt-get, dpkg and ldd"
    if reason:
        skip_or_fail(reason)
    debs = [download(p, CACHE_DIR, lambda _: None) for p in dropbear.resolve_ssh_packages()]
    root, lines = tmp_path / "root", []
    dropbear.stage_ssh(root, debs, tmp_path / "work", lines.append)
    assert (root / "usr/sbin/dropbear").is_file()
    assert (root / "lib64/ld-linux-x86-64.so.2").is_file()
    assert "libtomcrypt.so.1" in lines[-1] and "libc.so.6" in lines[-1]
    made = subprocess.run(["chroot", str(root), "/usr/bin/dropbearkey", "-t", "ed25519", "-f",
                           "/hostkey"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    shown = subprocess.run(["chroot", str(root), "/usr/bin/dropbearkey", "-y", "-f", "/hostkey"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "ssh-ed25519 " in shown.stdout and "Fingerprint: SHA256:" in shown.stdout
    version = subprocess.run(["chroot", str(root), "/usr/sbin/dropbear", "-V"],
                             capture_output=True, text=True, timeout=60)
    assert "Dropbear" in version.stdout + version.stderr
