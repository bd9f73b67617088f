"""Boot resources: the images racks cache and machines boot (kernel, initrd, root image)."""
from django.db import models

from nodes.architectures import validate_known_architecture
from nodes.choices import (
    BootResourceFileFormat,
    BootResourceFileType,
    BootResourceKind,
    BootResourceOrigin,
)


class BootResource(models.Model):
    """An OS release for one architecture, ephemeral (commissioning) or deployable, or the
    boot loaders (shim, GRUB) imported from Debian packages."""

    os = models.CharField(max_length=64)
    series = models.CharField(max_length=64)
    architecture = models.CharField(max_length=64, help_text="e.g. amd64/generic",
                                    validators=[validate_known_architecture])
    kind = models.CharField(max_length=16, choices=BootResourceKind.choices)
    origin = models.CharField(max_length=16, choices=BootResourceOrigin.choices)
    name = models.CharField(max_length=255, unique=True)
    title = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(
        default=dict, blank=True,
        help_text="What the importer built it from: Debian packages and versions, kernel signing")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["os", "series", "architecture", "kind"],
                                    name="bootresource_unique_release"),
        ]

    def __str__(self) -> str:
        return self.name


class BootResourceFile(models.Model):
    """One file of a boot resource, stored at `path` under BOOT_RESOURCES_DIR."""

    resource = models.ForeignKey(BootResource, on_delete=models.CASCADE, related_name="files")
    filetype = models.CharField(max_length=16, choices=BootResourceFileType.choices)
    format = models.CharField(
        max_length=8, choices=BootResourceFileFormat.choices, blank=True, default="",
        help_text="Deployable root images: raw, gz, zst (disk image), tgz or tzst (root tarball)")
    path = models.CharField(max_length=1024, unique=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Not unique per (resource, filetype): a resource may hold several loaders.
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path
