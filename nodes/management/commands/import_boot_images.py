"""`manage.py import_boot_images`: build the ephemeral boot image from this host's Debian packages.

The kernel flavour defaults to `generic` (real hardware); the lab may pass `--kernel-flavour
cloud` (smaller, virtio only). A second run with nothing changed prints "up to date".
"""
from pathlib import Path

from nodes.bootimages import builder
from nodes.management.commands._imagebuild import ImageBuildCommand
from nodes.services.bootresources import boot_resource_register_ephemeral


class Command(ImageBuildCommand):
    help = ("Build images/ephemeral/amd64/{linux,initrd.gz} under BOOT_RESOURCES_DIR from Debian "
            "packages (apt-get download; cache in $VAR_DIR/image-build).")

    def build(self, output_dir, flavour, cache_dir, force):
        return builder.build(output_dir, flavour, cache_dir, force, progress=self.progress)

    def register(self, result) -> str:
        resource = boot_resource_register_ephemeral(result.kernel, result.initrd,
                                                    series=debian_series())
        return resource.name


def debian_series() -> str:
    """This host's Debian codename (the packages the image was built from)."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"') or "debian"
    return "debian"
