"""What a lab with VMs needs on this machine, checked up front: every missing package at once."""
import os
import shutil

from bootsvc.loaders import DEBIAN_LOADERS
from lab.vm import ROM

# Debian package -> a command (on PATH) or a file it installs.
NEEDED = {
    "iproute2": "ip",
    "qemu-system-x86": "qemu-system-x86_64",
    "ipxe-qemu": ROM,
    "pxelinux": DEBIAN_LOADERS["lpxelinux.0"],
    "syslinux-common": DEBIAN_LOADERS["ldlinux.c32"],
}


def missing_packages(needed: dict[str, str] | None = None) -> list[str]:
    """The packages whose command or file is not on this machine."""
    return [package for package, what in (NEEDED if needed is None else needed).items()
            if not (os.path.exists(what) if what.startswith("/") else shutil.which(what))]


def unmet_reason(needed: dict[str, str] | None = None) -> str | None:
    """Why a lab with VMs cannot run here (root, packages), or None."""
    problems = [] if os.geteuid() == 0 else ["the lab needs root (network namespaces)"]
    missing = missing_packages(needed)
    if missing:
        problems.append(f"missing packages: {' '.join(missing)} "
                        f"(apt-get install -y {' '.join(missing)}, or `make sysdeps` as root)")
    return "; ".join(problems) or None
