"""Dynamically linked tools in the ephemeral initramfs, from Debian packages (busybox has none of
them): dropbear (rescue mode's SSH server), zstd (zst images), the disk tools a root tarball
deploy needs (mke2fs, extlinux, syslinux's MBR boot code) and those a real OS's storage layout
needs (sfdisk for GPT, mkfs.fat for the ESP, lvm, GNU tar for xattrs and pax headers).

Debian has no static builds of these, so each binary comes with the shared libraries `ldd` says
it needs, taken from the same Debian packages, and the dynamic loader.
"""
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nodes.bootimages.debs import BuildError, Package, Progress, candidate, unpack


@dataclass(frozen=True)
class Toolset:
    """Binaries (and plain files) to copy from these Debian packages; `links` are extra names
    of a binary ({link: binary}, relative to the initramfs root)."""

    name: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    files: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


# Each names the packages of every library its binaries link (ldd checks nothing is missing).
TOOLSETS = (
    Toolset("dropbear (rescue mode SSH server)",
            ("dropbear-bin", "libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10",
             "zlib1g"),
            ("usr/sbin/dropbear", "usr/bin/dropbearkey")),
    Toolset("zstd (zst images)",
            ("zstd", "libc6", "libgcc-s1", "liblz4-1", "liblzma5", "libstdc++6", "zlib1g"),
            ("usr/bin/zstd",)),
    Toolset("disk tools (root tarball deploys)",
            ("e2fsprogs", "extlinux", "syslinux-common", "libc6", "libext2fs2", "libcom-err2",
             "libblkid1", "libuuid1"),
            ("sbin/mke2fs", "usr/bin/extlinux"), files=("usr/lib/syslinux/mbr/mbr.bin",),
            links=(("sbin/mkfs.ext4", "mke2fs"),)),
    Toolset("storage layout tools (real OS deploys: GPT, ESP, LVM, GNU tar)",
            ("fdisk", "dosfstools", "lvm2", "tar", "libc6", "libfdisk1", "libsmartcols1",
             "libtinfo6", "libreadline8", "libuuid1", "libblkid1", "libacl1", "libselinux1",
             "libpcre2-8-0", "libdevmapper1.02.1", "libdevmapper-event1.02.1", "libedit2",
             "libsystemd0", "libaio1", "libudev1", "libbsd0", "libcap2", "libgcrypt20",
             "libgpg-error0", "liblzma5", "libzstd1", "liblz4-1", "libmd0"),
            ("sbin/sfdisk", "sbin/mkfs.fat", "sbin/lvm", "bin/tar"),
            links=(("sbin/mkfs.vfat", "mkfs.fat"),)),
)
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib")
# Where the initramfs keeps them: the dynamic loader's default directory (no ld.so.cache).
INITRAMFS_LIB_DIR = "lib/x86_64-linux-gnu"


def resolve_tool_packages(toolsets: tuple[Toolset, ...] = TOOLSETS) -> list[Package]:
    """Every package of the toolsets, once each, at their candidate versions."""
    names = dict.fromkeys(name for toolset in toolsets for name in toolset.packages)
    return [candidate(name)[0] for name in names]


def shared_libraries(binary: Path, root: Path) -> tuple[list[Path], Path | None]:
    """The shared libraries `binary` needs, resolved (by `ldd`) inside the unpacked packages
    under root, and the name of its dynamic loader; BuildError when one is only on this host."""
    lib_dirs = [str(root / d) for d in LIB_DIRS if (root / d).is_dir()]
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(lib_dirs), "LC_ALL": "C"}
    try:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env,
                              check=False)
    except FileNotFoundError as exc:
        raise BuildError("ldd is not installed (libc-bin)") from exc
    if done.returncode != 0:
        raise BuildError(f"ldd {binary} failed: {(done.stderr or done.stdout).strip()}")
    return parse_ldd(done.stdout, root)


def parse_ldd(text: str, root: Path) -> tuple[list[Path], Path | None]:
    """ldd's answer: (libraries, all under root; the loader's path as the binary names it)."""
    libraries, loader = [], None
    for line in text.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            path = rest.strip().split(" (")[0].strip()
            if not path or path == "not found":
                raise BuildError(f"{name.strip()} not found in the unpacked packages")
            if not Path(path).is_relative_to(root):
                raise BuildError(f"{name.strip()} resolved to this host's {path}: its Debian "
                                 f"package is missing from the toolset")
            libraries.append(Path(path))
        elif line.startswith("/"):
            loader = Path(line.split(" (")[0])
    return libraries, loader


def real_file(root: Path, path: Path) -> Path:
    """Follow symlinks of a file inside an unpacked package tree (absolute targets stay in it)."""
    for _ in range(40):
        if not path.is_symlink():
            return path
        target = Path(os.readlink(path))
        path = root / target.relative_to("/") if target.is_absolute() else path.parent / target
    raise BuildError(f"symlink loop at {path}")


def stage_tools(initramfs: Path, debs: list[Path], work: Path, progress: Progress,
                toolsets: tuple[Toolset, ...] = TOOLSETS) -> None:
    """Copy the toolsets' binaries, files and links from the unpacked .debs into the initramfs,
    with every shared library they need and the dynamic loader."""
    for deb in debs:
        unpack(deb, work)
    needed, loader = {}, None
    for toolset in toolsets:
        progress(f"adding {toolset.name}")
        for relative in toolset.binaries:
            libraries, found = shared_libraries(copy_file(work, initramfs, relative, 0o755), work)
            loader = loader or found
            needed.update({library.name: library for library in libraries})
        for relative in toolset.files:
            copy_file(work, initramfs, relative, 0o644)
        for link, target in toolset.links:
            (initramfs / link).unlink(missing_ok=True)
            (initramfs / link).symlink_to(target)
    if loader is None:
        raise BuildError("ldd named no dynamic loader for the tools")
    lib_dir = initramfs / INITRAMFS_LIB_DIR
    lib_dir.mkdir(parents=True, exist_ok=True)
    for name, library in sorted(needed.items()):
        shutil.copyfile(real_file(work, library), lib_dir / name)
    copy_loader(work, initramfs, loader)
    progress(f"  {len(needed)} libraries: {', '.join(sorted(needed))}")


def copy_file(work: Path, initramfs: Path, relative: str, mode: int) -> Path:
    """Copy one file of the unpacked packages to the same place in the initramfs; its source."""
    source = work / relative
    if not source.exists():
        raise BuildError(f"no {relative} in the unpacked packages")
    source = real_file(work, source)
    target = initramfs / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)
    return source


def copy_loader(work: Path, initramfs: Path, loader: Path) -> None:
    """The dynamic loader, at the absolute path the binaries name (/lib64/ld-linux-x86-64.so.2)."""
    source = next((real_file(work, work / d / loader.name) for d in LIB_DIRS
                   if (work / d / loader.name).exists()), None)
    if source is None:
        raise BuildError(f"no {loader.name} in the libc6 package")
    target = initramfs / loader.relative_to("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o755)
