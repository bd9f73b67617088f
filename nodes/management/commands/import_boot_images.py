"""`manage.py import_boot_images`: build the ephemeral boot image from this host's Debian packages.

The kernel flavour defaults to `generic` (real hardware); the lab may pass `--kernel-flavour
cloud` (smaller, virtio only). A second run with nothing changed prints "up to date".
"""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from nodes.bootimages import builder
from nodes.services.bootresources import boot_resource_register_ephemeral
from zones.services.bootfiles import boot_resources_dir


class Command(BaseCommand):
    help = ("Build images/ephemeral/amd64/{linux,initrd.gz} under BOOT_RESOURCES_DIR from Debian "
            "packages (apt-get download; cache in $VAR_DIR/image-build).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kernel-flavour", choices=sorted(builder.KERNEL_META),
                            default="generic", help="generic (real hardware, default) or cloud")
        parser.add_argument("--output-dir", default="",
                            help="default BOOT_RESOURCES_DIR ($VAR_DIR/boot-resources)")
        parser.add_argument("--cache-dir", default="", help="default $VAR_DIR/image-build")
        parser.add_argument("--force", action="store_true", help="rebuild even when up to date")

    def handle(self, *args, **options) -> None:
        output_dir = Path(options["output_dir"] or boot_resources_dir())
        cache_dir = Path(options["cache_dir"] or Path(settings.VAR_DIR) / "image-build")
        try:
            result = builder.build(output_dir, options["kernel_flavour"], cache_dir,
                                   options["force"], progress=self._progress)
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from exc
        if output_dir.resolve() == boot_resources_dir().resolve():
            # Registered, the files are in the racks' manifest (files without a row are not).
            resource = boot_resource_register_ephemeral(result.kernel, result.initrd,
                                                        series=debian_series())
            self._progress(f"registered boot resource {resource.name}")

    def _progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()


def debian_series() -> str:
    """This host's Debian codename (the packages the image was built from)."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"') or "debian"
    return "debian"
