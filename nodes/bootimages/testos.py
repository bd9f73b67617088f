"""Build the metal test OS: a small deployable raw disk image from Debian packages, nothing mounted.

The packages, their download and unpacking, the module selection and the initramfs are the
ephemeral image's (builder.py: kernel and busybox-static through `apt-get download`); only /init
differs (testos_init.sh, which shares common.sh with the ephemeral init). root.img is:

    sector 0       syslinux-common's mbr.bin boot code + the partition table (sfdisk, label-id
                   0x4d45544c), one primary partition, type 0x0c (FAT32 LBA), bootable
    1 MiB ...      partition 1, FAT32 labelled METALOS, made with mkfs.fat on a partition image:
                   ldlinux.sys + ldlinux.c32 (`syslinux --install`, through mtools),
                   syslinux.cfg (serial console), vmlinuz, initrd.gz (the root filesystem);
                   for UEFI, the removable-media path EFI/BOOT/: BOOTX64.EFI (Debian's shim,
                   signed by Microsoft), grubx64.efi (Debian's signed GRUB) and the grub.cfg
                   it reads beside it, so the disk boots with Secure Boot on too;
                   the deploy runner adds metal.cfg (write_metal_cfg.sh)

Then root.img.gz, root.img.zst (when zstd is installed), the same OS as a root tarball,
root.tar.gz (boot/vmlinuz-VERSION, boot/initrd.img-VERSION, etc/os-release: what a deploy puts on
ext4 and boots with extlinux), and SHA256SUMS beside them, under
images/deployable/amd64/generic/1/ of the output dir. A stamp in the cache dir makes a second
build with nothing changed a no-op. Pure build code: no Django, no models.
"""
import gzip
import hashlib
import io
import math
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nodes.bootimages import builder, formats
from nodes.bootimages.debs import (
    BuildError,
    Package,
    Progress,
    candidate,
    download,
    run,
    unpack,
)

TESTOS_VERSION = "3"
OS_NAME, SERIES, ARCHITECTURE = "metal-test", "1", "amd64/generic"
TITLE = "metal test OS (busybox, boots from disk, reports deployed)"
INIT_TEMPLATE = builder.HERE / "testos_init.sh"
MBR_BIN = Path("/usr/lib/syslinux/mbr/mbr.bin")
HOST_PACKAGES = ("syslinux", "syslinux-common", "mtools", "dosfstools", "fdisk")
TOOLS = {"syslinux": "syslinux", "mkfs.fat": "dosfstools", "mcopy": "mtools", "sfdisk": "fdisk"}
SECTOR, MIB = 512, 1 << 20
PART_START = 2048  # sectors: partition 1 starts at 1 MiB
MIN_PART_MIB = 40  # FAT32 needs >= 65525 clusters: 33 MiB with 512-byte clusters
LABEL, VOLUME_ID, DISK_ID = "METALOS", "4d45544c", "0x4d45544c"
BOOT_CODE_SIZE = 440  # MBR bytes before the disk signature and the partition table
SYSLINUX_CFG = """\
SERIAL 0 115200
DEFAULT metal
PROMPT 0
TIMEOUT 0
LABEL metal
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=tty0 console=ttyS0,115200
"""
# The signed UEFI loaders on the disk: (path on the partition, package, file in the package).
# Shim started from the removable path loads grubx64.efi beside it; that GRUB reads
# $cmdpath/grub.cfg when its built-in prefix (/EFI/debian) is absent.
DISK_LOADERS = (
    ("EFI/BOOT/BOOTX64.EFI", "shim-signed", "usr/lib/shim/shimx64.efi.signed"),
    ("EFI/BOOT/grubx64.efi", "grub-efi-amd64-signed",
     "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"),
)
GRUB_CFG = """\
set timeout=0
menuentry "metal test OS" {
    linux /vmlinuz console=tty0 console=ttyS0,115200
    initrd /initrd.gz
}
"""


@dataclass
class TestOSResult:
    """What a build did: whether anything changed, the images by format and their sha256."""

    __test__ = False  # not a pytest test class

    built: bool
    images: dict[str, Path]
    sha256: dict[str, str] = field(default_factory=dict)
    kernel_version: str = ""


# --- where things go and what a build depends on -------------------------------------------

def image_dir(output_dir: Path) -> Path:
    """The dir of the images (the boot resource's dir when output_dir is BOOT_RESOURCES_DIR)."""
    return Path(output_dir) / formats.resource_dir("deployable", ARCHITECTURE, SERIES)


def outputs(output_dir: Path, zstd: bool) -> dict[str, Path]:
    """{format: path} of the images a build writes (zst only when zstd is installed)."""
    chosen = [formats.RAW, formats.GZ] + ([formats.ZST] if zstd else []) + [formats.TGZ]
    return {fmt: image_dir(output_dir) / formats.filename(fmt) for fmt in chosen}


def check_tools() -> None:
    """Raise BuildError naming the Debian packages to install when a host tool is missing."""
    missing = {package for tool, package in TOOLS.items() if not shutil.which(tool)}
    if not MBR_BIN.is_file():
        missing.add("syslinux-common")
    if missing:
        raise BuildError(f"missing tools: apt-get install {' '.join(sorted(missing))}")


def host_versions() -> dict[str, str]:
    """Versions of the installed host packages that make the disk (syslinux, mtools...)."""
    found = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *HOST_PACKAGES])
    return dict(line.split(" ", 1) for line in found.splitlines() if " " in line)


def make_stamp(packages: Iterable[Package], flavour: str, output_dir: Path,
               image_formats: list[str]) -> dict:
    """The ephemeral stamp's inputs plus this image's own: a build with an equal stamp would
    make the same images."""
    stamp = builder.make_stamp(packages, flavour, output_dir)
    stamp.update(testos_version=TESTOS_VERSION, templates_sha256=builder.template_hash(
        INIT_TEMPLATE), host_packages=host_versions(), formats=image_formats,
        syslinux_cfg=SYSLINUX_CFG, grub_cfg=GRUB_CFG)
    return stamp


# --- the build ------------------------------------------------------------------------------

def build(output_dir: Path, flavour: str = "cloud", cache_dir: Path | None = None,
          force: bool = False, progress: Progress = print) -> TestOSResult:
    """Build the test OS images into output_dir unless an identical build is already there."""
    cache_dir = Path(cache_dir or builder.default_cache_dir())
    check_tools()
    outs = outputs(output_dir, zstd=shutil.which("zstd") is not None)
    sums = image_dir(output_dir) / "SHA256SUMS"
    progress(f"resolving packages ({flavour} kernel)")
    packages = builder.resolve_packages(flavour) + loader_packages()
    for package in packages:
        progress(f"  {package.name} {package.version}")
    stamp = make_stamp(packages, flavour, output_dir, list(outs))
    stamp_path = builder.stamp_file(cache_dir, f"testos-{flavour}-{builder.ARCH}", output_dir)
    if not force and builder.is_up_to_date(stamp_path, stamp, [*outs.values(), sums]):
        progress(f"up to date: {', '.join(str(p) for p in outs.values())}")
        return TestOSResult(False, outs, read_sums(sums, outs))
    progress("downloading packages")
    debs = [download(p, cache_dir, progress) for p in packages]
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="testos-") as work:
        version = assemble(debs, stamp, Path(work), outs, progress)
    digests = write_sums(outs, sums)
    builder.write_stamp(stamp_path, stamp, [*outs.values(), sums])
    for fmt, path in outs.items():
        progress(f"done: {path} ({path.stat().st_size} bytes, sha256 {digests[fmt]})")
    return TestOSResult(True, outs, digests, version)


def assemble(debs: list[Path], stamp: dict, work: Path, outs: dict[str, Path],
             progress: Progress) -> str:
    """Make the initramfs, the boot partition and the disk in work, then the images; the kernel
    version."""
    init_text = INIT_TEMPLATE.read_text().replace("@BUILD_ID@", builder.build_id(stamp))
    initrd = work / "initrd.gz"
    loaders = {deb for deb in debs if deb.name.startswith(
        tuple(f"{name}_" for name in LOADER_PACKAGES))}
    vmlinuz, version, _ = builder.make_initrd([d for d in debs if d not in loaders], work,
                                              init_text, initrd, progress)
    config, grub_cfg = work / "syslinux.cfg", work / "grub.cfg"
    config.write_text(SYSLINUX_CFG)
    grub_cfg.write_text(GRUB_CFG)
    partition, disk = work / "partition.img", work / "disk.img"
    make_partition(partition, {"vmlinuz": vmlinuz, "initrd.gz": initrd, "syslinux.cfg": config,
                               **uefi_files(loaders, work / "loaders"),
                               "EFI/BOOT/grub.cfg": grub_cfg}, progress)
    make_disk(partition, disk, progress)
    tarball = work / "root.tar.gz"
    make_root_tarball(tarball, vmlinuz, initrd, version)
    publish(disk, tarball, outs, progress)
    return version


LOADER_PACKAGES = tuple(dict.fromkeys(package for _, package, _ in DISK_LOADERS))


def loader_packages() -> list[Package]:
    """The packages of the disk's UEFI loaders, at this host's candidate versions."""
    return [candidate(name)[0] for name in LOADER_PACKAGES]


def uefi_files(debs: Iterable[Path], work: Path) -> dict[str, Path]:
    """{path on the partition: unpacked file} of DISK_LOADERS from their .debs."""
    for deb in debs:
        unpack(deb, work)
    files = {target: work / member for target, _, member in DISK_LOADERS}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise BuildError(f"the UEFI loader packages lack {', '.join(missing)}")
    return files


def partition_size(files: Iterable[Path]) -> int:
    """Bytes for a FAT32 partition holding these files (and syslinux), whole MiB, >= 40 MiB."""
    total = sum(Path(f).stat().st_size for f in files)
    return max(MIN_PART_MIB, math.ceil(total * 1.1 / MIB) + 8) * MIB


def make_partition(partition: Path, files: dict[str, Path], progress: Progress) -> None:
    """A FAT32 partition image with syslinux installed and `files` ({name: source}) copied in."""
    size = partition_size(files.values())
    progress(f"making the FAT32 boot partition ({size // MIB} MiB)")
    with open(partition, "wb") as handle:
        handle.truncate(size)
    run(["mkfs.fat", "-F", "32", "-s", "1", "-n", LABEL, "-i", VOLUME_ID,
                 "-h", str(PART_START), str(partition)])
    progress("installing syslinux (ldlinux.sys, ldlinux.c32)")
    run(["syslinux", "--install", str(partition)])
    for directory in sorted({parent for name in files for parent in _parents(name)}):
        run(["mmd", "-i", str(partition), f"::{directory}"])
    for name, source in files.items():
        progress(f"  copying {name} ({Path(source).stat().st_size} bytes)")
        run(["mcopy", "-i", str(partition), str(source), f"::{name}"])


def _parents(name: str) -> list[str]:
    """The directories above a path on the partition, outermost first: EFI, EFI/BOOT."""
    parts = name.split("/")[:-1]
    return ["/".join(parts[:index]) for index in range(1, len(parts) + 1)]


def make_disk(partition: Path, disk: Path, progress: Progress) -> None:
    """The whole disk: partition table by sfdisk, mbr.bin's boot code, the partition at 1 MiB."""
    sectors = partition.stat().st_size // SECTOR
    progress(f"writing the MBR and partition table ({(PART_START + sectors) * SECTOR} bytes)")
    with open(disk, "wb") as handle:
        handle.truncate((PART_START + sectors) * SECTOR)
    table = (f"label: dos\nlabel-id: {DISK_ID}\nunit: sectors\n\n"
             f"start={PART_START}, size={sectors}, type=c, bootable\n")
    run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(disk)], stdin=table)
    boot_code = MBR_BIN.read_bytes()
    if len(boot_code) > BOOT_CODE_SIZE:
        raise BuildError(f"{MBR_BIN} is {len(boot_code)} bytes, more than {BOOT_CODE_SIZE}")
    with open(disk, "r+b") as out, open(partition, "rb") as source:
        out.write(boot_code)
        out.seek(PART_START * SECTOR)
        shutil.copyfileobj(source, out, MIB)


def make_root_tarball(tarball: Path, vmlinuz: Path, initrd: Path, version: str) -> None:
    """The test OS as a root filesystem tarball, laid out as Debian's: the kernel and initrd in
    /boot (its initramfs is the whole OS), /vmlinuz and /initrd.img links, etc/os-release.
    Owners root, times 0: the same inputs make the same bytes."""
    os_release = (f'NAME="metal test OS"\nID={OS_NAME}\nVERSION_ID="{SERIES}"\n'
                  f'PRETTY_NAME="{TITLE}"\n').encode()
    with open(tarball, "wb") as raw, \
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as out, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("boot", "etc"):
            tar.addfile(_tar_entry(f"./{name}", tarfile.DIRTYPE, 0o755))
        for name, source in ((f"boot/vmlinuz-{version}", vmlinuz),
                             (f"boot/initrd.img-{version}", initrd)):
            with open(source, "rb") as data:
                tar.addfile(_tar_entry(f"./{name}", size=Path(source).stat().st_size), data)
        tar.addfile(_tar_entry("./etc/os-release", size=len(os_release)), io.BytesIO(os_release))
        for link, target in (("vmlinuz", f"boot/vmlinuz-{version}"),
                             ("initrd.img", f"boot/initrd.img-{version}")):
            tar.addfile(_tar_entry(f"./{link}", tarfile.SYMTYPE, linkname=target))


def _tar_entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, size: int = 0,
               linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, linkname
    info.uname = info.gname = "root"
    return info


def publish(disk: Path, tarball: Path, outs: dict[str, Path], progress: Progress) -> None:
    """Write each image (raw copy, gzip, zstd, the root tarball) next to its final name, then
    rename it there."""
    for fmt, target in outs.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        progress(f"writing {target}")
        if fmt == formats.GZ:
            with open(disk, "rb") as source, open(tmp, "wb") as raw, \
                    gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as out:
                shutil.copyfileobj(source, out, MIB)
        elif fmt == formats.ZST:
            run(["zstd", "-q", "-f", "-9", "-T1", "-o", str(tmp), str(disk)])
        elif fmt == formats.TGZ:
            shutil.copyfile(tarball, tmp)
        else:
            shutil.copyfile(disk, tmp)
        os.replace(tmp, target)


# --- checksums ------------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def write_sums(outs: dict[str, Path], sums: Path) -> dict[str, str]:
    """Write SHA256SUMS (`sha256sum -c` format) for the images; {format: sha256}."""
    digests = {fmt: sha256_of(path) for fmt, path in outs.items()}
    lines = "".join(f"{digests[fmt]}  {path.name}\n" for fmt, path in outs.items())
    builder.atomic_write(sums, lines.encode())
    return digests


def read_sums(sums: Path, outs: dict[str, Path]) -> dict[str, str]:
    """{format: sha256} from a SHA256SUMS written by write_sums."""
    by_name = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        by_name[name] = digest
    return {fmt: by_name.get(path.name, "") for fmt, path in outs.items()}
