"""Boot resources racks sync into their image cache, and the image-sync progress racks report.

The BootResourceFile rows are the truth: `boot_files()` lists them, and only them, from
`BOOT_RESOURCES_DIR`. Size and sha256 come from the file itself (hashed once while unchanged), so
the manifest never advertises a checksum the served bytes do not have; a row whose file is
missing (or not a regular file inside the dir) is left out until the file is back.
"""
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from django.conf import settings
from django.utils import timezone

from nodes.models import BootResourceFile
from zones.models import RackController

SYNC_STATES = ("syncing", "synced", "failed")
_HASH_CHUNK = 1 << 20
_hash_cache: dict[tuple[str, int, int, int], str] = {}
_hash_lock = threading.Lock()


@dataclass(frozen=True)
class BootFile:
    """One file racks sync: its path in the cache, size, sha256, and where the region reads it."""

    path: str
    size: int
    sha256: str
    source: Path

    def as_manifest(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def boot_resources_dir() -> Path:
    """The BOOT_RESOURCES_DIR setting (default $VAR_DIR/boot-resources)."""
    return Path(settings.BOOT_RESOURCES_DIR)


def boot_files() -> list[BootFile]:
    """The files of every BootResourceFile row present on disk, sorted by path."""
    root = boot_resources_dir()
    if not root.is_dir() or root.is_symlink():
        return []
    real_root = root.resolve()
    files = []
    for path in BootResourceFile.objects.order_by("path").values_list("path", flat=True):
        source = root / path
        stat = _regular_file_stat(source, real_root)
        if stat is not None:
            files.append(BootFile(path, stat.st_size, file_sha256(source, stat), source))
    return files


def _regular_file_stat(source: Path, real_root: Path) -> os.stat_result | None:
    """The stat of source if it is a regular file (not a symlink) inside the root, else None."""
    try:
        stat = source.stat(follow_symlinks=False)
    except OSError:
        return None
    if not S_ISREG(stat.st_mode) or not source.resolve().is_relative_to(real_root):
        return None
    return stat


def file_sha256(path: Path, stat: os.stat_result) -> str:
    """The file's sha256, cached by (path, size, mtime, ctime) so that unchanged files hash once."""
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    with _hash_lock:
        cached = _hash_cache.get(key)
    if cached:
        return cached
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    with _hash_lock:
        for stale in [k for k in _hash_cache if k[0] == key[0]]:
            del _hash_cache[stale]
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def boot_manifest() -> dict:
    """The manifest racks sync from: {"files": [{path, size, sha256}], "etag"}."""
    files = [item.as_manifest() for item in boot_files()]
    etag = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"files": files, "etag": f'"{etag}"'}


def boot_file(path: str) -> BootFile | None:
    """The boot file listed at `path`, or None (unknown paths and traversal alike)."""
    if not path or path.startswith("/") or ".." in path.split("/"):
        return None
    return next((item for item in boot_files() if item.path == path), None)


def rack_image_sync_record(rack: RackController, progress: dict) -> dict:
    """Store a rack's image-sync progress (validated by the caller), stamped with the time."""
    rack.image_sync = {**progress, "updated": timezone.now().isoformat()}
    rack.save(update_fields=["image_sync"])
    return rack.image_sync
