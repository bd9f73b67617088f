"""Boot resources racks sync into their image cache, and the image-sync progress racks report.

Until boot resources are database records, they are the regular files under
`BOOT_RESOURCES_DIR`. `boot_files()` is the one selector that lists them: a BootResource model
replaces it without touching the views or the racks.
"""
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

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
    """BOOT_RESOURCES_DIR: the Django setting, else the env var, else $VAR_DIR/boot-resources."""
    value = getattr(settings, "BOOT_RESOURCES_DIR", None) or os.environ.get("BOOT_RESOURCES_DIR")
    return Path(value or Path(settings.VAR_DIR) / "boot-resources")


def boot_files() -> list[BootFile]:
    """Every regular file under the boot resources dir, sorted by path; symlinks are skipped."""
    root = boot_resources_dir()
    if not root.is_dir() or root.is_symlink():
        return []
    files = []
    for source in _regular_files(root):
        stat = source.stat(follow_symlinks=False)
        files.append(BootFile(source.relative_to(root).as_posix(), stat.st_size,
                              file_sha256(source, stat), source))
    return sorted(files, key=lambda item: item.path)


def _regular_files(root: Path):
    """Regular files under root, never following a symlink (to a file or a directory)."""
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_symlink() or entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield Path(entry.path)


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
