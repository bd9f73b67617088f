"""Boot resource writes: create, upload a file (streamed, sha256-verified), register, delete.

Deployable root images carry a format (nodes.bootimages.formats): root-image is raw, gz or zst
(required for a deployable resource), root-tgz is tgz (the default) or tzst. The format names
the file (root.img, root.img.gz, root.img.zst, root.tar.gz, root.tar.zst) and the file's first
bytes must match it.
"""
import hashlib
import os
import re
import tempfile
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.permissions import require_admin
from nodes.bootimages import formats
from nodes.choices import BootResourceFileType, BootResourceKind, BootResourceOrigin
from nodes.models import BootResource, BootResourceFile
from nodes.services.events import event_record
from zones.services.bootfiles import boot_resources_dir, file_sha256

CHUNK = 1 << 20
RESOURCE_FIELDS = ("os", "series", "architecture", "kind", "origin", "name", "title")
FILENAMES = {
    BootResourceFileType.KERNEL: "boot-kernel",
    BootResourceFileType.INITRD: "boot-initrd",
    BootResourceFileType.ROOT_IMAGE: "squashfs",  # an ephemeral root image has no format
    BootResourceFileType.LOADER: "bootloader",
}
FORMATS = {
    BootResourceFileType.ROOT_IMAGE: formats.ROOT_IMAGE_FORMATS,
    BootResourceFileType.ROOT_TGZ: formats.ROOT_TGZ_FORMATS,
}
FILETYPES = tuple(BootResourceFileType.values)
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_segments(resource: BootResource) -> None:
    """Raise unless os, series and architecture are safe path segments (arch may be a/b)."""
    errors = {}
    for field in ("os", "series"):
        if not _SEGMENT.match(getattr(resource, field) or ""):
            errors[field] = ["Letters, digits, '.', '_' or '-'."]
    if not all(_SEGMENT.match(part) for part in (resource.architecture or "").split("/")):
        errors["architecture"] = ["Like amd64/generic."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def boot_resource_create(user, **fields) -> BootResource:
    """Create a boot resource (no files yet); admins only."""
    require_admin(user, "create boot resources")
    resource = BootResource(**{k: v for k, v in fields.items() if k in RESOURCE_FIELDS})
    if not resource.name:
        resource.name = f"{resource.os}/{resource.series}"
    resource.full_clean()
    _check_segments(resource)
    resource.save()
    event_record(machine=None, type="boot_resource_created", user=user,
                 description=f"Boot resource {resource.name} ({resource.architecture})")
    return resource


def _check_filetype(filetype: str) -> None:
    if filetype not in FILETYPES:
        raise ValidationError({"filetype": [f"One of {', '.join(FILETYPES)}."]})


def file_format_for(resource: BootResource, filetype: str, file_format: str = "") -> str:
    """The format a file of this type is recorded with; raise when it cannot have that one.

    root-tgz is tgz unless it says tzst; a deployable resource's root-image must say raw, gz or
    zst; other files (and an ephemeral resource's squashfs root-image) have none.
    """
    _check_filetype(filetype)
    allowed = FORMATS.get(filetype, ())
    if filetype == BootResourceFileType.ROOT_IMAGE and resource.kind != \
            BootResourceKind.DEPLOYABLE:
        allowed = ()
    # root-tgz's default keeps MAAS clients (which never say a format) uploading gzip tarballs.
    default = allowed[0] if len(allowed) == 1 or filetype == BootResourceFileType.ROOT_TGZ \
        else ""
    file_format = file_format or default
    if file_format and file_format not in allowed:
        choices = f"one of {', '.join(allowed)}" if allowed else "none"
        raise ValidationError({"format": [f"A {resource.kind} {filetype} takes {choices}."]})
    if allowed and not file_format:
        raise ValidationError({"format": [f"Required for a {resource.kind} {filetype}: "
                                          f"one of {', '.join(allowed)}."]})
    return file_format


def resource_file_path(resource: BootResource, filetype: str, file_format: str = "") -> str:
    """The path, relative to BOOT_RESOURCES_DIR, where a resource's file of this type lives."""
    file_format = file_format_for(resource, filetype, file_format)
    name = formats.filename(file_format) if file_format else FILENAMES[filetype]
    return "/".join((formats.resource_dir(resource.kind, resource.architecture, resource.series),
                     name))


def _check_path_free(resource: BootResource, relative: str) -> None:
    """Raise if another resource already owns the file at `relative`."""
    if BootResourceFile.objects.filter(path=relative).exclude(resource=resource).exists():
        raise ValidationError({"path": [f"{relative} belongs to another boot resource."]})


def _check_expected(expected_sha256: str, expected_size: int | None) -> str:
    """The expected sha256 in lower case; raise on a malformed digest or negative size."""
    digest = (expected_sha256 or "").strip().lower()
    if not _SHA256.match(digest):
        raise ValidationError({"sha256": ["A sha256 is 64 hexadecimal digits."]})
    if expected_size is not None and expected_size < 0:
        raise ValidationError({"size": ["Must not be negative."]})
    return digest


def _receive(stream, root: Path, expected_size: int | None) -> tuple[Path, int, str, bytes]:
    """Stream into a temp file under root, hashing chunks: (temp path, size, sha256, head)."""
    root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=root, prefix=".upload-", suffix=".part")
    temp, digest, size, head = Path(name), hashlib.sha256(), 0, b""
    try:
        with os.fdopen(fd, "wb") as handle:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if expected_size is not None and size > expected_size:
                    raise ValidationError({"size": [f"More than the expected {expected_size}."]})
                digest.update(chunk)
                handle.write(chunk)
                if len(head) < formats.HEAD_SIZE:
                    head += chunk[:formats.HEAD_SIZE - len(head)]
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, size, digest.hexdigest(), head


def boot_resource_file_upload(user, resource: BootResource, filetype: str, stream,
                              expected_sha256: str, expected_size: int | None = None,
                              file_format: str = "") -> BootResourceFile:
    """Stream a file in; keep it (file and row) only when its sha256, size and content (for a
    deployable root image, the head matching its format) are as expected."""
    require_admin(user, "upload boot resources")
    file_format = file_format_for(resource, filetype, file_format)
    relative = resource_file_path(resource, filetype, file_format)
    digest = _check_expected(expected_sha256, expected_size)
    _check_path_free(resource, relative)
    root = boot_resources_dir()
    temp, size, actual, head = _receive(stream, root, expected_size)
    errors = {}
    if actual != digest:
        errors["sha256"] = [f"Checksum mismatch: received {actual}."]
    if expected_size is not None and size != expected_size:
        errors["size"] = [f"Received {size} bytes, expected {expected_size}."]
    if not errors and file_format and (problem := formats.check_content(file_format, head)):
        errors["format"] = [f"Content is not {file_format}: {problem}"]
    if errors:
        temp.unlink(missing_ok=True)
        raise ValidationError(errors)
    return _store(user, resource, filetype, file_format, temp, root / relative, size, actual)


def _store(user, resource, filetype: str, file_format: str, temp: Path, final: Path, size: int,
           sha256: str):
    """Move the verified temp file into place and save its row, all or nothing."""
    relative = final.relative_to(boot_resources_dir()).as_posix()
    replaced = final.exists()
    try:
        with transaction.atomic():
            BootResource.objects.select_for_update().get(pk=resource.pk)
            _check_path_free(resource, relative)
            row, _ = BootResourceFile.objects.update_or_create(
                path=relative,
                defaults={"resource": resource, "filetype": filetype, "format": file_format,
                          "size": size, "sha256": sha256})
            shown = f"{filetype} ({file_format})" if file_format else filetype
            event_record(machine=None, type="boot_resource_uploaded", user=user,
                         description=f"{resource.name} {shown}: {size} bytes, {sha256}")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        if not replaced:
            final.unlink(missing_ok=True)
        raise
    return row


def _safe_source(relative: str) -> Path:
    """The regular file at `relative` under BOOT_RESOURCES_DIR; raise for anything else."""
    root = boot_resources_dir()
    parts = relative.split("/")
    if not relative or relative.startswith("/") or ".." in parts or "" in parts:
        raise ValidationError({"path": ["A relative path under BOOT_RESOURCES_DIR."]})
    source = root / relative
    if not source.is_file() or source.is_symlink() or \
            not source.resolve().is_relative_to(root.resolve()):
        raise ValidationError({"path": [f"No regular file {relative} under {root}."]})
    return source


@transaction.atomic
def boot_resource_register_file(resource: BootResource, filetype: str, path: str,
                                file_format: str = "") -> BootResourceFile:
    """Record a file already under BOOT_RESOURCES_DIR (the importer's): size and sha256 computed,
    a deployable root image's head checked against its format."""
    file_format = file_format_for(resource, filetype, file_format)
    source = _safe_source(path)
    _check_path_free(resource, path)
    if file_format:
        with open(source, "rb") as handle:
            problem = formats.check_content(file_format, handle.read(formats.HEAD_SIZE))
        if problem:
            raise ValidationError({"format": [f"{path} is not {file_format}: {problem}"]})
    stat = source.stat()
    row, _ = BootResourceFile.objects.update_or_create(
        path=path, defaults={"resource": resource, "filetype": filetype, "format": file_format,
                             "size": stat.st_size, "sha256": file_sha256(source, stat)})
    return row


def boot_resource_delete(user, resource: BootResource) -> None:
    """Delete a resource, its rows, then its files on the region's disk; admins only."""
    require_admin(user, "delete boot resources")
    root = boot_resources_dir()
    with transaction.atomic():
        paths = list(resource.files.values_list("path", flat=True))
        event_record(machine=None, type="boot_resource_deleted", user=user,
                     description=f"Boot resource {resource.name} ({len(paths)} files)")
        resource.delete()
    for relative in paths:
        target = root / relative
        if target.is_file() and not target.is_symlink():
            target.unlink(missing_ok=True)


@transaction.atomic
def boot_resource_register_ephemeral(kernel: Path, initrd: Path, *, series: str,
                                     architecture: str = "amd64/generic",
                                     metadata: dict | None = None) -> BootResource:
    """Record the importer's ephemeral kernel and initrd so racks sync them (idempotent);
    metadata (which kernel package, whether signed) replaces the recorded one when given."""
    resource, created = BootResource.objects.get_or_create(
        os="debian", series=series, architecture=architecture, kind=BootResourceKind.EPHEMERAL,
        defaults={"origin": BootResourceOrigin.SYNCED, "name": f"ephemeral/{series}",
                  "title": f"Ephemeral environment (Debian {series})"})
    root = boot_resources_dir().resolve()
    for filetype, path in (("kernel", kernel), ("initrd", initrd)):
        boot_resource_register_file(resource, filetype,
                                    str(Path(path).resolve().relative_to(root)))
    if metadata is not None:
        resource.metadata = metadata
        resource.save(update_fields=["metadata", "updated"])
    if created:
        event_record(machine=None, type="boot_resource_created",
                     description=f"Boot resource {resource.name} imported")
    return resource


@transaction.atomic
def boot_resource_register_deployable(images: dict[str, Path], *, os_name: str, series: str,
                                      architecture: str = "amd64/generic",
                                      title: str = "") -> BootResource:
    """Record built deployable root images ({format: path under BOOT_RESOURCES_DIR}) so racks
    sync them (idempotent; rows of formats no longer built are dropped)."""
    resource, created = BootResource.objects.get_or_create(
        os=os_name, series=series, architecture=architecture, kind=BootResourceKind.DEPLOYABLE,
        defaults={"origin": BootResourceOrigin.SYNCED, "name": f"{os_name}/{series}",
                  "title": title or f"{os_name} {series}"})
    root = boot_resources_dir().resolve()
    paths = []
    for file_format, path in images.items():
        filetype = (BootResourceFileType.ROOT_TGZ if file_format in formats.ROOT_TGZ_FORMATS
                    else BootResourceFileType.ROOT_IMAGE)
        relative = str(Path(path).resolve().relative_to(root))
        boot_resource_register_file(resource, filetype, relative, file_format)
        paths.append(relative)
    resource.files.filter(filetype__in=FORMATS).exclude(path__in=paths).delete()
    if created:
        event_record(machine=None, type="boot_resource_created",
                     description=f"Boot resource {resource.name} built")
    return resource
