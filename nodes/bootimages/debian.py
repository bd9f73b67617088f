"""Build a deployable Debian root filesystem with mmdebstrap, packed as root.tar.zst.

mmdebstrap installs, from this host's Debian apt sources of the series (the entries whose suite
is the series or series-*), the signed kernel (linux-image-amd64), GRUB for BIOS (grub-pc-bin)
and UEFI (grub-efi-amd64-bin, grub-efi-amd64-signed, shim-signed) with grub-install and
grub-mkconfig (grub2-common), cloud-init with ifupdown, isc-dhcp-client and resolvconf (its eni
renderer and the DNS servers it writes), openssh-server, lvm2 and the file system tools, without
recommends, man pages, docs (copyright files stay) or translations. No boot loader is installed
on a disk: the grub-pc/grub-efi-amd64 metapackages would run grub-install; the deploy runner
does it, chrooted into the unpacked root. Nothing host-specific stays: no SSH host keys
(cloud-init makes them at first boot), an empty machine-id, no apt lists or .debs, no
resolv.conf but resolvconf's link, /etc/hostname "localhost", no resume device in the initramfs.

Outputs, under images/deployable/amd64/generic/<series>/ of the output dir: root.tar.zst
(mmdebstrap's tar: pax format, numeric owners, xattrs; zstd) and root.manifest (`package
version` lines). A second build is a no-op when the stamp in the cache dir is equal: this
module's version and options, the apt sources, and this host's apt candidate version of every
requested package and every package in the last manifest; so an `apt-get update` that brings
a new version of anything in the image rebuilds it. Pure build code: no Django, no models.
"""
import os
import shlex
import shutil
import subprocess
import tempfile
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from nodes.bootimages import builder, formats
from nodes.bootimages.aptsources import candidates, series_sources
from nodes.bootimages.debs import BuildError, Progress, candidate, run

DEBIAN_VERSION = "4"
OS_NAME, ARCHITECTURE, ARCH = "debian", "amd64/generic", "amd64"
SERIES_TITLES = {"bookworm": "Debian 12"}
PACKAGES = (
    "linux-image-amd64", "grub-pc-bin", "grub-efi-amd64-bin", "grub-efi-amd64-signed",
    "grub2-common", "shim-signed", "efibootmgr", "cloud-init", "openssh-server",
    "openssh-sftp-server", "ifupdown", "isc-dhcp-client", "resolvconf", "lvm2", "e2fsprogs",
    "dosfstools", "sudo", "systemd-sysv", "udev", "dbus", "initramfs-tools", "zstd", "netbase",
    "iproute2", "locales",
)
# Documentation is most of what is not the kernel; the copyright files stay (licences).
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
)
# Before the kernel is installed: update-initramfs would record the build host's swap.
ESSENTIAL_HOOKS = (
    'mkdir -p "$1/etc/initramfs-tools/conf.d"',
    'echo RESUME=none > "$1/etc/initramfs-tools/conf.d/resume"',
)
# mmdebstrap copies the host's hostname and resolv.conf in (with their modes); openssh-server
# made host keys; the deployed apt should install recommends, as Debian's does.
CUSTOMIZE_HOOKS = (
    'rm -f "$1"/etc/ssh/ssh_host_* "$1/etc/apt/apt.conf.d/99mmdebstrap"',
    # resolvconf's link to /run/resolvconf/resolv.conf stays: ifupdown's dns-nameservers use it.
    'test -L "$1/etc/resolv.conf" || rm -f "$1/etc/resolv.conf"',
    'rm -f "$1/etc/hostname" && echo localhost > "$1/etc/hostname"',
    # cloud-init's default locale: Debian's locale-gen ignores the name cloud-init passes and
    # builds only what /etc/locale.gen enables (else cc_locale fails the first boot). Made the
    # system's locale here, cc_locale finds it set and skips locale-gen at first boot (a
    # minute of a TCG guest's first boot; a user data `locale:` still changes it).
    'sed -i "s/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/" "$1/etc/locale.gen"'
    ' && chroot "$1" locale-gen && echo LANG=en_US.UTF-8 > "$1/etc/default/locale"',
    'for unit in cloud-init.target.wants/cloud-init.service multi-user.target.wants/ssh.service;'
    ' do test -L "$1/etc/systemd/system/$unit" || { echo "$unit is not enabled" >&2; exit 1; };'
    ' done',
)
ZSTD_LEVEL = 10  # -19 saves a tenth more for ten times the time (here: 11-27 s vs 5 min)
SHOWN = ("I: ", "W: ", "E: ", "Setting up ")  # mmdebstrap's --verbose lines passed on
TAIL_LINES = 40


@dataclass
class DebianResult:
    """What a build did: whether anything changed, the tarball, its manifest and sizes."""

    built: bool
    image: Path
    manifest: Path
    series: str
    packages: dict[str, str] = field(default_factory=dict)  # installed: {package: version}
    unpacked_size: int = 0


def title(series: str) -> str:
    """The resource title of a supported series; BuildError naming the supported ones."""
    if series not in SERIES_TITLES:
        raise BuildError(f"cannot build debian/{series}: supported are "
                         f"{', '.join('debian/' + s for s in SERIES_TITLES)}")
    return SERIES_TITLES[series]


def image_dir(output_dir: Path, series: str) -> Path:
    """The dir of the image (the boot resource's dir when output_dir is BOOT_RESOURCES_DIR)."""
    return Path(output_dir) / formats.resource_dir("deployable", ARCHITECTURE, series)


def outputs(output_dir: Path, series: str) -> tuple[Path, Path]:
    """Where the tarball and its manifest go."""
    base = image_dir(output_dir, series)
    return base / formats.filename(formats.TZST), base / "root.manifest"


def read_manifest(path: Path) -> dict[str, str]:
    """{package: version} of a manifest ({} when there is none)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


# --- stamp -------------------------------------------------------------------------------------

def mmdebstrap_options() -> list[str]:
    """The options that decide what is in the image (the stamp records them)."""
    return ["--variant=apt", f"--architectures={ARCH}",
            '--aptopt=APT::Install-Recommends "false"', f"--include={','.join(PACKAGES)}",
            *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
            *(f"--essential-hook={hook}" for hook in ESSENTIAL_HOOKS),
            *(f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS)]


def make_stamp(series: str, sources: str, manifest: dict[str, str], output_dir: Path) -> dict:
    """Everything a build depends on, the candidate versions of what the last one installed."""
    names = sorted(set(PACKAGES) | set(manifest))
    tool = run(["dpkg-query", "-W", "-f", "${Version}", "mmdebstrap"])
    return {"debian_version": DEBIAN_VERSION, "series": series, "arch": ARCH,
            "options": mmdebstrap_options(), "sources": sources, "zstd_level": ZSTD_LEVEL,
            "mmdebstrap": tool, "candidates": candidates(names),
            "output_dir": str(Path(output_dir).resolve())}


# --- the build ---------------------------------------------------------------------------------

def check_tools() -> None:
    """Raise BuildError naming the Debian packages to install when a host tool is missing."""
    missing = [package for tool, package in (("mmdebstrap", "mmdebstrap"), ("zstd", "zstd"),
                                             ("apt-cache", "apt")) if not shutil.which(tool)]
    if missing:
        raise BuildError(f"missing tools: apt-get install {' '.join(missing)}")
    if os.geteuid() != 0:
        raise BuildError("building a Debian image needs root (mmdebstrap's root mode)")


def build(output_dir: Path, series: str = "bookworm", cache_dir: Path | None = None,
          force: bool = False, progress: Progress = print) -> DebianResult:
    """Build the Debian root tarball into output_dir unless an identical build is there."""
    title(series)
    check_tools()
    cache_dir = Path(cache_dir or builder.default_cache_dir())
    image, manifest = outputs(output_dir, series)
    progress(f"resolving debian/{series} packages from this host's apt sources")
    sources = series_sources(series)
    stamp = make_stamp(series, sources, read_manifest(manifest), output_dir)
    stamp_path = builder.stamp_file(cache_dir, f"debian-{series}-{ARCH}", output_dir)
    if not force and builder.is_up_to_date(stamp_path, stamp, [image, manifest]):
        progress(f"up to date: {image} ({image.stat().st_size} bytes)")
        return DebianResult(False, image, manifest, series, read_manifest(manifest))
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f"debian-{series}-"))
    try:
        work.chmod(0o755)  # apt downloads as _apt into the chroot, under this dir
        unpacked = assemble(work, series, sources, cache_dir, image, manifest, progress)
    finally:
        remove_work(work, progress)
    # The stamp of what was built: the manifest names packages the first stamp could not.
    stamp = make_stamp(series, sources, read_manifest(manifest), output_dir)
    builder.write_stamp(stamp_path, stamp, [image, manifest])
    progress(f"done: {image} ({image.stat().st_size} bytes, {unpacked} bytes unpacked)")
    return DebianResult(True, image, manifest, series, read_manifest(manifest), unpacked)


def assemble(work: Path, series: str, sources: str, cache_dir: Path, image: Path,
             manifest: Path, progress: Progress) -> int:
    """Run mmdebstrap into work/root.tar, compress it to image, write the manifest; the
    tarball's uncompressed size."""
    (work / "sources.list").write_text(sources)
    debs = cache_dir / f"debian-{series}-debs"
    debs.mkdir(parents=True, exist_ok=True)
    (work / "debs").mkdir()
    tar = work / "root.tar"
    cmd = ["mmdebstrap", "--verbose", *mmdebstrap_options(),
           *cache_hooks(debs, work / "debs", work / "manifest"),
           series, str(tar), str(work / "sources.list")]
    progress(f"mmdebstrap {series}: {len(PACKAGES)} packages and their dependencies")
    run_streamed(cmd, {**os.environ, "TMPDIR": str(work), "LC_ALL": "C.UTF-8"}, progress)
    # The .debs of this build replace the cache's: older versions are never used again.
    shutil.rmtree(debs)
    os.replace(work / "debs", debs)
    size = tar.stat().st_size
    progress(f"compressing {size} bytes with zstd -{ZSTD_LEVEL}")
    image.parent.mkdir(parents=True, exist_ok=True)
    tmp = image.with_name(f".{image.name}.tmp")
    run(["zstd", "-q", "-f", "-T0", f"-{ZSTD_LEVEL}", str(tar), "-o", str(tmp)])
    os.replace(tmp, image)
    builder.atomic_write(manifest, (work / "manifest").read_bytes())
    return size


def remove_work(work: Path, progress: Progress) -> None:
    """Remove the work dir, unless a killed mmdebstrap left its chroot's /proc, /sys or /dev
    mounted in it: removing would reach into them."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    if any(Path(mount).is_relative_to(work) for mount in mounts):
        progress(f"left {work} in place: something is still mounted under it")
        return
    shutil.rmtree(work, ignore_errors=True)


def cache_hooks(debs: Path, new_debs: Path, manifest: Path) -> list[str]:
    """mmdebstrap options that reuse and refill the .deb cache and write the manifest
    (mmdebstrap's cleanup then empties the image's apt cache)."""
    query = (f'dpkg-query --admindir="$1/var/lib/dpkg" -W -f="\\${{Package}} \\${{Version}}\\n"'
             f" > {shlex.quote(str(manifest))}")
    return ["--skip=essential/unlink",
            '--setup-hook=mkdir -p "$1/var/cache/apt/archives"',
            f"--setup-hook=sync-in {shlex.quote(str(debs))} /var/cache/apt/archives/",
            f"--customize-hook=sync-out /var/cache/apt/archives {shlex.quote(str(new_debs))}",
            f"--customize-hook={query}"]


def run_streamed(cmd: list[str], env: dict[str, str], progress: Progress) -> None:
    """Run a long command, passing its progress lines on; BuildError with its last lines when
    it fails. A stop (an exception from progress) terminates it: mmdebstrap cleans up."""
    tail = deque(maxlen=TAIL_LINES)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", env=env, stdin=subprocess.DEVNULL)
    try:
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            if line.startswith(SHOWN):
                progress(f"  {line}")
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    if proc.returncode != 0:
        raise BuildError(f"mmdebstrap failed ({proc.returncode}): " + "\n".join(tail))


def kernel_facts(packages: dict[str, str]) -> dict:
    """Which kernel package the image holds and whether it is Debian's signed build."""
    names = [name for name in packages if name.startswith("linux-image-")
             and name[len("linux-image-"):][:1].isdigit()]
    if len(names) != 1:
        return {}
    package, _ = candidate(names[0])  # for its Source field: the installed version is ours
    return builder.kernel_signing(replace(package, version=packages[names[0]]))
