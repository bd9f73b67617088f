"""`manage.py import_boot_images`: build the ephemeral boot image and fetch the signed UEFI loaders
(shim-signed, grub-efi-amd64-signed) from this host's Debian packages.

The kernel flavour defaults to `generic` (real hardware); the lab may pass `--kernel-flavour
cloud` (smaller, virtio only). A second run with nothing changed prints "up to date". The work
is nodes.services.bootimport's, the same as the MAAS API's `boot-resources/?op=import`: an
import already running (from the API or another command) is refused.

`--deployable debian/bookworm` builds the deployable Debian 12 root tarball with mmdebstrap
instead (nodes/bootimages/debian.py) and registers it as the boot resource debian/bookworm.
"""
from pathlib import Path

from django.core.management.base import CommandError

from nodes.choices import BootImportState
from nodes.management.commands._imagebuild import ImageBuildCommand
from nodes.services.bootimport import boot_images_import, deployable_image_import


class Command(ImageBuildCommand):
    help = ("Build images/ephemeral/amd64/{linux,initrd.gz} and images/bootloader/uefi/amd64/"
            "{shimx64.efi,grubx64.efi} under BOOT_RESOURCES_DIR from Debian packages "
            "(apt-get download; cache in $VAR_DIR/image-build).")

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--deployable", default="", metavar="OS/SERIES",
                            help="build this deployable image instead (debian/bookworm: "
                                 "mmdebstrap, root.tar.zst)")

    def handle(self, *args, **options) -> None:
        dirs = {"output_dir": Path(options["output_dir"]) if options["output_dir"] else None,
                "cache_dir": Path(options["cache_dir"]) if options["cache_dir"] else None}
        if options["deployable"]:
            outcome = deployable_image_import(options["deployable"], force=options["force"],
                                              progress=self.progress, **dirs)
        else:
            outcome = boot_images_import(flavour=options["kernel_flavour"], force=options["force"],
                                         progress=self.progress, **dirs)
        if outcome is None:
            raise CommandError("An import of boot resources is already running.")
        if outcome.state != BootImportState.DONE:
            raise CommandError(f"Import {outcome.state}: {outcome.message}")
        if outcome.resource:
            self.progress(outcome.message)
