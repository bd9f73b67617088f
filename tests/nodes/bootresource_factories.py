"""Factories and helpers for boot resources (kept beside the shared tests/factories.py)."""
import gzip
import io
import tarfile

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


# --- deployable image payloads, one per format (nodes.bootimages.formats) ---------------------

DISK = b"\0" * 446 + b"\x80" + b"\0" * 63 + b"\x55\xaa" + b"disk-sector " * 100_000  # > 1 MiB


def zstd_frame(data: bytes) -> bytes:
    """A valid zstd frame of raw (stored) blocks: the standard library has no zstd compressor."""
    frame = b"\x28\xb5\x2f\xfd" + bytes([0x00, 0x58])  # no checksum; window 2 MiB
    blocks = [data[i:i + 65536] for i in range(0, len(data), 65536)] or [b""]
    for index, block in enumerate(blocks):
        last = index == len(blocks) - 1
        frame += (int(last) | len(block) << 3).to_bytes(3, "little") + block
    return frame


def tarball(members: dict[str, bytes]) -> bytes:
    """A gzipped tar of the given {name: content}."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def payloads() -> dict[str, bytes]:
    """{format: valid content}: raw, gz and zst disk images and a tgz root tarball."""
    return {"raw": DISK, "gz": gzip.compress(DISK, mtime=0), "zst": zstd_frame(DISK),
            "tgz": tarball({"etc/os-release": b"ID=metal\n", "sbin/init": b"#!/bin/sh\n"})}


def deployable_resource(os: str = "metal-test", series: str = "1",
                        image_formats: tuple[str, ...] = ("gz",), architecture="amd64/generic"):
    """A deployable resource with root image rows in these formats (no files on disk: enough
    for choosing the image to deploy)."""
    from nodes.bootimages import formats
    from nodes.models import BootResourceFile

    resource = BootResourceFactory(os=os, series=series, kind="deployable",
                                   architecture=architecture)
    base = formats.resource_dir("deployable", architecture, series)
    for index, file_format in enumerate(image_formats):
        filetype = "root-tgz" if file_format == "tgz" else "root-image"
        BootResourceFile.objects.create(
            resource=resource, filetype=filetype, format=file_format,
            path=f"{base}/{formats.filename(file_format)}", size=1000 + index,
            sha256=f"{index:x}" * 64)
    return resource
