"""The shared shape of the image-building commands: options, the build, registration."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from nodes.bootimages import builder
from nodes.bootimages.debs import BuildError
from zones.services.bootfiles import boot_resources_dir


class ImageBuildCommand(BaseCommand):
    """Builds into --output-dir (default BOOT_RESOURCES_DIR) and registers only there: files
    without a boot resource row are not in the racks' manifest."""

    default_flavour = "generic"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kernel-flavour", choices=sorted(builder.KERNEL_META),
                            default=self.default_flavour,
                            help=f"generic (real hardware) or cloud (virtio only); "
                                 f"default {self.default_flavour}")
        parser.add_argument("--output-dir", default="",
                            help="default BOOT_RESOURCES_DIR (registered there only)")
        parser.add_argument("--cache-dir", default="", help="default $VAR_DIR/image-build")
        parser.add_argument("--force", action="store_true", help="rebuild even when up to date")

    def handle(self, *args, **options) -> None:
        output_dir = Path(options["output_dir"] or boot_resources_dir())
        cache_dir = Path(options["cache_dir"] or Path(settings.VAR_DIR) / "image-build")
        try:
            result = self.build(output_dir, options["kernel_flavour"], cache_dir,
                                options["force"])
        except BuildError as exc:
            raise CommandError(str(exc)) from exc
        if output_dir.resolve() == boot_resources_dir().resolve():
            self.progress(f"registered boot resource {self.register(result)}")

    def build(self, output_dir: Path, flavour: str, cache_dir: Path, force: bool):
        raise NotImplementedError

    def register(self, result) -> str:
        """Register the build as a boot resource; its description."""
        raise NotImplementedError

    def progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
