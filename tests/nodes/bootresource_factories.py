"""Factories and helpers for boot resources (kept beside the shared tests/factories.py)."""
import factory

from nodes.models import BootResource
from nodes.services.bootresources import boot_resource_register_file


class BootResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BootResource

    os = "ubuntu"
    series = factory.Sequence(lambda n: f"series{n}")
    architecture = "amd64/generic"
    kind = "ephemeral"
    origin = "synced"
    name = factory.LazyAttribute(lambda o: f"{o.os}/{o.series}")


def register_boot_files(files: dict[str, str], resource: BootResource | None = None):
    """Register files already under BOOT_RESOURCES_DIR: {relative path: filetype}."""
    resource = resource or BootResourceFactory()
    return [boot_resource_register_file(resource, filetype, path)
            for path, filetype in files.items()]
