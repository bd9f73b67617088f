"""`manage.py build_test_os`: build the metal test OS, a small deployable disk image, from this
host's Debian packages (nodes/bootimages/testos.py) and register it as the deployable boot
resource metal-test/1 (amd64/generic) when it is written under BOOT_RESOURCES_DIR.

A second run with nothing changed prints "up to date" and builds nothing.
"""
from nodes.bootimages import testos
from nodes.management.commands._imagebuild import ImageBuildCommand
from nodes.services.bootresources import boot_resource_register_deployable


class Command(ImageBuildCommand):
    help = ("Build the test OS (root.img, root.img.gz, root.img.zst, root.tar.gz) under "
            "BOOT_RESOURCES_DIR "
            "from Debian packages (apt-get download; cache in $VAR_DIR/image-build).")
    default_flavour = "cloud"

    def build(self, output_dir, flavour, cache_dir, force):
        return testos.build(output_dir, flavour, cache_dir, force, progress=self.progress)

    def register(self, result) -> str:
        resource = boot_resource_register_deployable(
            result.images, os_name=testos.OS_NAME, series=testos.SERIES,
            architecture=testos.ARCHITECTURE, title=testos.TITLE)
        return f"{resource.name} ({', '.join(result.images)})"
