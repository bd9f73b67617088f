"""The signed UEFI boot loaders from Debian packages: `apt-get download` + `dpkg -x`, no other.

shim-signed holds shimx64.efi signed by Microsoft's UEFI CA, grub-efi-amd64-signed the network
GRUB signed by Debian (grubnetx64.efi.signed). Both are copied (atomically) into the boot
resources dir under LOADER_DIR with the names shim expects beside it. Pure build code (no Django):
the packages' download and unpack are nodes.bootimages.debs's, as for the ephemeral image.
"""
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nodes.bootimages.debs import BuildError, Package, Progress, candidate, download, unpack

# The rack serves these under the names DHCP gives (bootsvc.loaders.IMPORTED): keep them equal.
LOADER_DIR = Path("images/bootloader/uefi/amd64")
RESOURCE_NAME = "bootloader/uefi/amd64"


@dataclass(frozen=True)
class LoaderSource:
    """A loader file written as `name`, found at `member` in the Debian `package`."""

    name: str
    package: str
    member: str


SOURCES = (
    LoaderSource("shimx64.efi", "shim-signed", "usr/lib/shim/shimx64.efi.signed"),
    LoaderSource("grubx64.efi", "grub-efi-amd64-signed",
                 "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"),
)


@dataclass
class LoaderResult:
    """The loader files written ({name: path}) and the packages they came from ({name: version})."""

    files: dict[str, Path] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)


def loader_paths(output_dir: Path) -> dict[str, Path]:
    """Where each loader goes under the boot resources dir."""
    return {source.name: Path(output_dir) / LOADER_DIR / source.name for source in SOURCES}


def fetch_loaders(output_dir: Path, cache_dir: Path, progress: Progress = print) -> LoaderResult:
    """Download (or reuse from cache_dir) the loaders' packages, unpack them, write the loaders."""
    cache_dir, result = Path(cache_dir), LoaderResult()
    cache_dir.mkdir(parents=True, exist_ok=True)
    targets = loader_paths(output_dir)
    progress("boot loaders: resolving packages")
    packages: dict[str, Package] = {}
    for source in SOURCES:
        if source.package not in packages:
            packages[source.package], _ = candidate(source.package)
    debs = {name: download(package, cache_dir, progress) for name, package in packages.items()}
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="loaders-") as work:
        for name, deb in debs.items():
            unpack(deb, Path(work) / name)
        for source in SOURCES:
            unpacked = Path(work) / source.package / source.member
            if not unpacked.is_file():
                raise BuildError(f"{source.package} has no {source.member}")
            copy_atomic(unpacked, targets[source.name])
            result.files[source.name] = targets[source.name]
            progress(f"  {source.name}: {source.package} {packages[source.package].version}")
    result.packages = {name: package.version for name, package in packages.items()}
    return result


def copy_atomic(source: Path, target: Path) -> None:
    """Copy by rename, so a rack or reader never sees half a loader."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
