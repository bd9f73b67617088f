"""The boot image import: build the ephemeral image and fetch the UEFI loaders from Debian
packages, and register them; or build a deployable OS image (debian/bookworm) and register it.

One function does the work for `manage.py import_boot_images` and for the region task behind
the MAAS API's `boot-resources/?op=import`. Only one import runs at a time in the whole cluster:
the import marker (nodes.services.import_marker) says whether one runs; the BootImport row keeps
the last run's state and the stop request, which the build checks between its steps.
"""
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from maasproject.permissions import require_admin
from nodes.bootimages import builder, debian, formats, loaders
from nodes.bootimages.debs import BuildError, Progress
from nodes.choices import BootImportState
from nodes.models import BootImport
from nodes.models.bootimport import SINGLETON
from nodes.services.bootloaders import boot_resource_register_loaders
from nodes.services.bootresources import (
    boot_resource_register_deployable,
    boot_resource_register_ephemeral,
)
from nodes.services.import_marker import import_marker, import_marker_held
from zones.services.bootfiles import boot_resources_dir

logger = logging.getLogger(__name__)
IMPORT_TASK = "nodes.tasks.import_boot_images"
# A request no worker has taken after this long no longer counts as an import in progress.
QUEUED_GRACE = timedelta(seconds=60)
MESSAGE_LENGTH = 2000


class ImportCancelled(Exception):
    """stop_import was asked: the build stops at its next step."""


@dataclass
class ImportOutcome:
    """How an import ended: state (done, failed, cancelled), what it said, what it registered."""

    state: str
    message: str = ""
    resource: str = ""
    built: bool = False


def boot_import_running() -> bool:
    """Whether an import runs anywhere, or was asked for moments ago and waits for a worker."""
    if import_marker_held():
        return True
    row = BootImport.objects.filter(state=BootImportState.QUEUED,
                                    requested__gt=timezone.now() - QUEUED_GRACE).first()
    return row is not None


def boot_import_start(user) -> bool:
    """Ask a region worker to import the boot images (admins); False if one already runs."""
    require_admin(user, "import boot resources")
    if boot_import_running():
        return False
    with transaction.atomic():
        BootImport.current()
        BootImport.objects.filter(pk=SINGLETON).update(
            state=BootImportState.QUEUED, requested=timezone.now(), cancel_requested=False,
            message="")
        # Last, inside the transaction: if the broker refuses the message, nothing says
        # "queued" and the API answers 503 (nodes.services.power explains the same choice).
        current_app.send_task(IMPORT_TASK, queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    return True


def boot_import_stop(user) -> bool:
    """Ask the running (or queued) import to stop (admins); False if none runs."""
    require_admin(user, "stop the boot resources import")
    active = (BootImportState.QUEUED, BootImportState.RUNNING)
    return bool(BootImport.objects.filter(state__in=active).update(cancel_requested=True))


def boot_images_import(*, flavour: str = "", output_dir: Path | None = None,
                       cache_dir: Path | None = None, force: bool = False,
                       progress: Progress = logger.info) -> ImportOutcome | None:
    """Build the ephemeral image, fetch the signed UEFI loaders (shim, GRUB) and register them
    (when built into BOOT_RESOURCES_DIR); None
    when another import holds the marker. Build failures and stops are outcomes, not errors."""
    flavour = flavour or settings.BOOT_IMPORT_KERNEL_FLAVOUR
    output_dir = Path(output_dir or boot_resources_dir())
    cache_dir = Path(cache_dir or Path(settings.VAR_DIR) / "image-build")
    return _run_import(lambda report: _build_and_register(output_dir, flavour, cache_dir, force,
                                                          report), progress)


def deployable_image_import(name: str, *, output_dir: Path | None = None,
                            cache_dir: Path | None = None, force: bool = False,
                            progress: Progress = logger.info) -> ImportOutcome | None:
    """Build a deployable OS image named os/series (debian/bookworm: mmdebstrap, nodes.bootimages
    .debian) and register it (when built into BOOT_RESOURCES_DIR); None when another import
    holds the marker. Shares the marker and the BootImport record with boot_images_import."""
    output_dir = Path(output_dir or boot_resources_dir())
    cache_dir = Path(cache_dir or Path(settings.VAR_DIR) / "image-build")
    return _run_import(lambda report: _build_debian(name, output_dir, cache_dir, force, report),
                       progress)


def _run_import(work: Callable[[Progress], ImportOutcome],
                progress: Progress) -> ImportOutcome | None:
    """Run work(progress) as the one import of the cluster, recording how it ended."""
    with import_marker() as held:
        if not held:
            return None
        if not _begin():
            return _finish(ImportOutcome(BootImportState.CANCELLED, "stopped before it began"))
        try:
            outcome = work(_watched(progress))
        except ImportCancelled:
            outcome = ImportOutcome(BootImportState.CANCELLED, "stopped by stop_import")
        except BuildError as exc:
            outcome = ImportOutcome(BootImportState.FAILED, str(exc))
        except Exception:
            with contextlib.suppress(DatabaseError):  # the database may be why it failed
                _finish(ImportOutcome(BootImportState.FAILED, "unexpected error"))
            raise
        return _finish(outcome)


def _build_and_register(output_dir: Path, flavour: str, cache_dir: Path, force: bool,
                        progress: Progress) -> ImportOutcome:
    result = builder.build(output_dir, flavour, cache_dir, force, progress=progress)
    fetched = loaders.fetch_loaders(output_dir, cache_dir, progress=progress)
    names = []
    # Files outside BOOT_RESOURCES_DIR are not in the racks' manifest: register only there.
    if output_dir.resolve() == boot_resources_dir().resolve():
        series = debian_series()
        metadata = {"packages": result.packages, **result.kernel_facts}
        names.append(boot_resource_register_ephemeral(
            result.kernel, result.initrd, series=series, metadata=metadata).name)
        names.append(boot_resource_register_loaders(fetched, series=series).name)
    message = (f"registered boot resources {', '.join(names)}" if names
               else f"built in {output_dir}")
    return ImportOutcome(BootImportState.DONE, message, names[0] if names else "", result.built)


def _build_debian(name: str, output_dir: Path, cache_dir: Path, force: bool,
                  progress: Progress) -> ImportOutcome:
    os_name, _, series = name.partition("/")
    if os_name != debian.OS_NAME:
        raise BuildError(f"cannot build {name}: deployable images are debian/<series>")
    title = debian.title(series)
    result = debian.build(output_dir, series, cache_dir, force, progress=progress)
    if output_dir.resolve() != boot_resources_dir().resolve():
        return ImportOutcome(BootImportState.DONE, f"built in {output_dir}", "", result.built)
    resource = boot_resource_register_deployable(
        {formats.TZST: result.image}, os_name=debian.OS_NAME, series=series,
        architecture=debian.ARCHITECTURE, title=title)
    if result.built or not resource.metadata:
        resource.metadata = {"packages": result.packages, **debian.kernel_facts(result.packages)}
        resource.save(update_fields=["metadata", "updated"])
    return ImportOutcome(BootImportState.DONE, f"registered boot resource {resource.name} "
                         f"({formats.TZST})", resource.name, result.built)


def _begin() -> bool:
    """Record the run as started; False when a stop came while it was still queued."""
    with transaction.atomic():
        BootImport.current()
        row = BootImport.objects.select_for_update().get(pk=SINGLETON)
        if row.state == BootImportState.QUEUED and row.cancel_requested:
            return False
        row.state, row.started, row.ended = BootImportState.RUNNING, timezone.now(), None
        row.cancel_requested, row.message = False, ""
        row.save()
    return True


def _finish(outcome: ImportOutcome) -> ImportOutcome:
    BootImport.objects.filter(pk=SINGLETON).update(
        state=outcome.state, ended=timezone.now(), cancel_requested=False,
        message=outcome.message[:MESSAGE_LENGTH])
    return outcome


def _watched(progress: Progress) -> Progress:
    """The build's progress callback, which also records the line and honours a stop: the
    builder calls it between steps, and its outputs are written atomically, so stopping there
    leaves the previous image in place."""

    def report(line: str) -> None:
        row = BootImport.objects.filter(pk=SINGLETON)
        if row.filter(cancel_requested=True).exists():
            raise ImportCancelled
        row.update(message=line[:MESSAGE_LENGTH])
        progress(line)

    return report


def debian_series() -> str:
    """This host's Debian codename (the packages the image was built from)."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"') or "debian"
    return "debian"
