"""`manage.py build_test_os`: build the metal test OS, a small deployable disk image, from this
host's Debian packages (nodes/bootimages/testos.py) and register it as the deployable boot
resource metal-test/1 (amd64/generic) when it is written under BOOT_RESOURCES_DIR.

A second run with nothing changed prints "up to date" and builds nothing.
"""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from nodes.bootimages import builder, testos
from nodes.services.bootresources import boot_resource_register_deployable
from zones.services.bootfiles import boot_resources_dir


class Command(BaseCommand):
    help = ("Build the test OS (root.img, root.img.gz, root.img.zst) under BOOT_RESOURCES_DIR "
            "from Debian packages (apt-get download; cache in $VAR_DIR/image-build).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kernel-flavour", choices=sorted(builder.KERNEL_META),
                            default="cloud", help="cloud (virtio, default) or generic")
        parser.add_argument("--output-dir", default="",
                            help="default BOOT_RESOURCES_DIR (registered there only)")
        parser.add_argument("--cache-dir", default="", help="default $VAR_DIR/image-build")
        parser.add_argument("--force", action="store_true", help="rebuild even when up to date")

    def handle(self, *args, **options) -> None:
        output_dir = Path(options["output_dir"] or boot_resources_dir())
        cache_dir = Path(options["cache_dir"] or Path(settings.VAR_DIR) / "image-build")
        try:
            result = testos.build(output_dir, options["kernel_flavour"], cache_dir,
                                  options["force"], progress=self._progress)
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from exc
        if output_dir.resolve() == boot_resources_dir().resolve():
            resource = boot_resource_register_deployable(
                result.images, os_name=testos.OS_NAME, series=testos.SERIES,
                architecture=testos.ARCHITECTURE, title=testos.TITLE)
            self._progress(f"registered boot resource {resource.name} "
                           f"({', '.join(result.images)})")

    def _progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
