"""Reads for the images page: boot resources, which racks hold their files, the last import."""
import re
from dataclasses import dataclass, field

from django.db.models import Prefetch

from nodes.choices import BootImportState
from nodes.models import BootImport, BootResource, BootResourceFile
from nodes.models.bootimport import SINGLETON
from nodes.services.bootimport import boot_import_running
from zones.models import RackController

# The builder's download lines end in "(42%)" (nodes.bootimages.debs.watch_download).
_PERCENT = re.compile(r"\((\d{1,3})%\)\s*$")


@dataclass
class RackHolding:
    """How much of one resource one rack holds (files whose sha256 matches the region's)."""

    rack: RackController
    reported: bool
    files_held: int = 0
    files_total: int = 0
    bytes_held: int = 0
    bytes_total: int = 0

    @property
    def percent(self) -> int:
        if not self.bytes_total:
            return 100 if self.files_held == self.files_total else 0
        return self.bytes_held * 100 // self.bytes_total


@dataclass
class ImageOverview:
    """One boot resource, its files and the racks' copies of them."""

    resource: BootResource
    files: list[BootResourceFile]
    racks: list[RackHolding] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class ImportOverview:
    """The current or last boot image import: state, message, percent (None: not known)."""

    state: str
    label: str
    running: bool
    message: str
    started: object
    ended: object
    percent: int | None


def rack_holding(rack: RackController, files: list[BootResourceFile]) -> RackHolding:
    """What the rack's last image-sync report says it holds of these files."""
    held = (rack.image_sync or {}).get("held")
    holding = RackHolding(rack=rack, reported=isinstance(held, dict), files_total=len(files),
                          bytes_total=sum(f.size for f in files))
    for item in files:
        if holding.reported and held.get(item.path) == item.sha256:
            holding.files_held += 1
            holding.bytes_held += item.size
    return holding


def images_overview() -> list[ImageOverview]:
    """Every boot resource with its files and each rack's holding (three queries)."""
    resources = BootResource.objects.order_by("name").prefetch_related(
        Prefetch("files", queryset=BootResourceFile.objects.order_by("path")))
    racks = list(RackController.objects.order_by("name"))
    rows = []
    for resource in resources:
        files = list(resource.files.all())
        rows.append(ImageOverview(resource, files, [rack_holding(r, files) for r in racks]))
    return rows


def import_percent(state: str, message: str) -> int | None:
    """Done is 100, queued 0; a running import the percent its last line gives, if any."""
    if state == BootImportState.DONE:
        return 100
    if state == BootImportState.QUEUED:
        return 0
    match = _PERCENT.search(message or "")
    return min(100, int(match.group(1))) if match and state == BootImportState.RUNNING else None


def import_overview() -> ImportOverview:
    """The import record (never created by a read) and whether one runs now."""
    row = BootImport.objects.filter(pk=SINGLETON).first() or BootImport()
    running = boot_import_running()
    label = BootImportState(row.state).label
    if not running and row.state in (BootImportState.QUEUED, BootImportState.RUNNING):
        label += " (stalled: no region worker runs it)"
    return ImportOverview(state=row.state, label=label,
                          running=running, message=row.message, started=row.started,
                          ended=row.ended, percent=import_percent(row.state, row.message))
