"""Boot loader resource writes: record the imported shim and GRUB so that racks sync them."""
from pathlib import Path

from django.db import transaction

from nodes.bootimages.loaders import RESOURCE_NAME, SOURCES, LoaderResult
from nodes.choices import BootResourceFileType, BootResourceKind, BootResourceOrigin
from nodes.models import BootResource
from nodes.services.bootresources import boot_resource_register_file
from nodes.services.events import event_record
from zones.services.bootfiles import boot_resources_dir


@transaction.atomic
def boot_resource_register_loaders(result: LoaderResult, *, series: str,
                                   architecture: str = "amd64/generic") -> BootResource:
    """Record the importer's loader files (one row per loader, sha256 and size computed) and
    the packages they came from in the resource's metadata (idempotent)."""
    resource, created = BootResource.objects.get_or_create(
        name=RESOURCE_NAME,
        defaults={"os": "debian", "series": series, "architecture": architecture,
                  "kind": BootResourceKind.BOOTLOADER, "origin": BootResourceOrigin.SYNCED,
                  "title": "UEFI boot loaders (signed shim and GRUB)"})
    root = boot_resources_dir().resolve()
    paths = []
    for path in result.files.values():
        relative = str(Path(path).resolve().relative_to(root))
        boot_resource_register_file(resource, BootResourceFileType.LOADER, relative)
        paths.append(relative)
    resource.files.exclude(path__in=paths).delete()
    packages = {source.name: source.package for source in SOURCES}
    resource.series = series
    resource.metadata = {
        "packages": dict(sorted(result.packages.items())),
        "files": {name: {"package": packages.get(name, ""),
                         "version": result.packages.get(packages.get(name, ""), "")}
                  for name in sorted(result.files)},
    }
    resource.save(update_fields=["series", "metadata", "updated"])
    if created:
        event_record(machine=None, type="boot_resource_created",
                     description=f"Boot resource {resource.name} imported")
    return resource
