"""The rack's image cache: sync the region's boot resources into the dir bootsvc serves.

`sync_images(client, cache_dir)` runs once; `python -m rack_worker.imagecache` loops (rackd
starts it). Files are downloaded to `<path>.part` (resumed with a Range request), verified
against the manifest's sha256 and renamed into place. A local index (path → size, mtime, ctime,
inode, sha256) avoids rehashing unchanged files. Files under `images/` and files synced before
that the region no longer lists are removed; files the rack seeds itself are left alone.
"""
import argparse
import fcntl
import hashlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from bootsvc.metrics import image_sync_record
from bootsvc.region import RegionClient, RegionError, env_region_urls
from rack_worker.env import var_dir

log = logging.getLogger("imagecache")
INDEX_NAME = ".imagecache-index.json"
LOCK_NAME = ".imagecache.lock"
PART = ".part"
IMAGES = "images"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SyncError(Exception):
    """One file could not be synced (the others still are)."""


def default_cache_dir() -> Path:
    return var_dir() / "rack" / "cache"


def cache_path(cache_dir: Path, rel: str) -> Path | None:
    """Where a manifest path lives in the cache, or None if it would leave the cache dir."""
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        return None
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts) or rel.endswith(PART):
        return None
    if parts[0] in (INDEX_NAME, LOCK_NAME):
        return None
    root = os.path.realpath(cache_dir)
    parent = os.path.realpath((cache_dir / rel).parent)
    if parent != root and not parent.startswith(root + os.sep):
        return None
    return cache_dir / rel


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fingerprint(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


class Index:
    """The cache's verified files: path → [size, mtime_ns, ctime_ns, inode, sha256]."""

    def __init__(self, cache_dir: Path):
        self.path = cache_dir / INDEX_NAME
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        self.files: dict[str, list] = data.get("files", {}) if isinstance(data, dict) else {}

    def verified(self, rel: str, target: Path, sha256: str) -> bool:
        """True if the file is unchanged since it was verified with this sha256."""
        entry = self.files.get(rel)
        return entry == [*_fingerprint(target.stat(follow_symlinks=False)), sha256]

    def record(self, rel: str, target: Path, sha256: str) -> None:
        self.files[rel] = [*_fingerprint(target.stat(follow_symlinks=False)), sha256]

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"files": self.files}, sort_keys=True))
        os.replace(tmp, self.path)


class Progress:
    """Bytes and files done, reported to the region at most every `every` seconds."""

    def __init__(self, client: RegionClient, files_total: int, bytes_total: int, every: float):
        self.client, self.every = client, every
        self.files_total, self.bytes_total = files_total, bytes_total
        self.files_done = self.bytes_done = 0
        # path -> sha256 of each file the cache holds verified: the region shows from it which
        # racks hold which boot resource.
        self.held: dict[str, str] = {}
        self.last = float("-inf")

    def add(self, nbytes: int) -> None:
        self.bytes_done += nbytes
        self.report("syncing")

    def report(self, state: str, error: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        body = {"bytes_done": min(self.bytes_done, self.bytes_total),
                "bytes_total": self.bytes_total, "files_done": self.files_done,
                "files_total": self.files_total, "state": state, "error": error[:4000],
                "held": dict(self.held)}
        image_sync_record(body)  # the rack's /metrics (bootsvc.metrics) reads it
        try:
            self.client.post_image_progress(body)
        except RegionError as exc:
            log.warning("Could not report image-sync progress: %s", exc)


class ImageSync:
    """One sync of the cache dir against the region's manifest."""

    def __init__(self, client: RegionClient, cache_dir: Path, report_every: float = 1.0):
        self.client, self.cache_dir, self.report_every = client, Path(cache_dir), report_every
        self.index = Index(self.cache_dir)
        self.downloaded_bytes = self.downloaded_files = 0
        self.removed: list[str] = []
        self.progress: Progress | None = None

    def run(self) -> dict:
        files, errors = self.manifest()
        self.progress = Progress(self.client, len(files), sum(f["size"] for f in files),
                                 self.report_every)
        self.progress.held = self.already_held(files)
        for entry in files:
            try:
                self.sync_file(entry)
            except (SyncError, RegionError, OSError) as exc:
                log.error("Image %s: %s", entry["path"], exc)
                errors.append(f"{entry['path']}: {exc}")
            finally:
                self.index.save()
        self.remove_stale({entry["path"] for entry in files})
        self.index.save()
        state = "failed" if errors else "synced"
        self.progress.report(state, "; ".join(errors), force=True)
        return {"state": state, "errors": errors, "files": len(files),
                "downloaded_bytes": self.downloaded_bytes,
                "downloaded_files": self.downloaded_files, "removed": self.removed}

    def already_held(self, files: list[dict]) -> dict[str, str]:
        """path -> sha256 of the files the index says are in place (no hashing)."""
        held = {}
        for entry in files:
            target = cache_path(self.cache_dir, entry["path"])
            if (target is not None and not target.is_symlink() and target.is_file()
                    and self.index.verified(entry["path"], target, entry["sha256"])):
                held[entry["path"]] = entry["sha256"]
        return held

    def manifest(self) -> tuple[list[dict], list[str]]:
        """The manifest's valid entries, and an error for each entry refused."""
        files, errors = [], []
        for entry in self.client.get_image_manifest().get("files", []):
            path = entry.get("path") if isinstance(entry, dict) else None
            size, sha = (entry.get("size"), entry.get("sha256")) if path else (None, None)
            valid = isinstance(size, int) and size >= 0 and isinstance(sha, str)
            if cache_path(self.cache_dir, path) is None or not valid or not _SHA256.match(sha):
                errors.append(f"{path!r}: refused manifest entry")
                continue
            files.append({"path": path, "size": size, "sha256": sha})
        return files, errors

    def sync_file(self, entry: dict) -> None:
        """Make the cache hold the file with the manifest's sha256 (download, verify, rename)."""
        target = cache_path(self.cache_dir, entry["path"])
        if target is None:
            raise SyncError("path leaves the cache dir")
        start = self.progress.bytes_done
        if not self.current(entry, target):
            self.progress.held.pop(entry["path"], None)
            for fresh in (False, True):
                self.progress.bytes_done = start
                if self.download(entry, target, fresh):
                    break
                log.warning("Image %s: sha256 mismatch (fresh=%s)", entry["path"], fresh)
            else:
                raise SyncError("sha256 mismatch after a fresh download")
        self.progress.bytes_done = start + entry["size"]
        self.progress.files_done += 1
        self.progress.held[entry["path"]] = entry["sha256"]
        self.progress.report("syncing")

    def current(self, entry: dict, target: Path) -> bool:
        """True if the cached copy is the region's (from the index, else by hashing it)."""
        if target.is_symlink() or not target.is_file():
            return False
        if self.index.verified(entry["path"], target, entry["sha256"]):
            return True
        if target.stat().st_size != entry["size"] or file_sha256(target) != entry["sha256"]:
            return False
        self.index.record(entry["path"], target, entry["sha256"])
        return True

    def download(self, entry: dict, target: Path, fresh: bool) -> bool:
        """Fetch into `<path>.part` (resuming unless fresh), verify, rename; False on mismatch."""
        part = target.with_name(target.name + PART)
        target.parent.mkdir(parents=True, exist_ok=True)
        if part.is_symlink() or (fresh and part.exists()):
            part.unlink()
        offset = part.stat().st_size if part.exists() else 0
        if offset > entry["size"]:
            part.unlink()
            offset = 0
        if offset:
            log.info("Image %s: resuming from byte %d", entry["path"], offset)
        self.progress.add(offset)
        with open(part, "r+b" if part.exists() else "wb") as handle:
            if offset < entry["size"] or entry["size"] == 0:
                self.downloaded_bytes += self.client.download_image(
                    entry["path"], handle, offset, self.progress.add)
            handle.flush()
            os.fsync(handle.fileno())
        if file_sha256(part) != entry["sha256"]:
            part.unlink()
            return False
        os.chmod(part, 0o644)
        os.replace(part, target)
        self.index.record(entry["path"], target, entry["sha256"])
        self.downloaded_files += 1
        return True

    def remove_stale(self, wanted: set[str]) -> None:
        """Remove what the region no longer lists: anything under images/, and synced files."""
        images = self.cache_dir / IMAGES
        if images.is_dir() and not images.is_symlink():
            for dirpath, dirnames, filenames in os.walk(images, topdown=False):
                links = [name for name in dirnames if os.path.islink(os.path.join(dirpath, name))]
                for name in filenames + links:
                    self._remove_if_stale(Path(dirpath) / name, wanted)
                if dirpath != str(images) and not os.listdir(dirpath):
                    os.rmdir(dirpath)
        for rel in [rel for rel in self.index.files if rel not in wanted]:
            del self.index.files[rel]
            target = cache_path(self.cache_dir, rel)
            if target is not None and (target.is_symlink() or target.is_file()):
                self._remove(target)

    def _remove_if_stale(self, path: Path, wanted: set[str]) -> None:
        rel = path.relative_to(self.cache_dir).as_posix()
        if rel in wanted or (rel.endswith(PART) and rel[:-len(PART)] in wanted):
            return
        self._remove(path)

    def _remove(self, path: Path) -> None:
        path.unlink()
        self.removed.append(path.relative_to(self.cache_dir).as_posix())
        log.info("Removed %s (no longer on the region)", path)


@contextmanager
def _locked(cache_dir: Path):
    """One sync of a cache dir at a time (the loop and a one-off call may overlap)."""
    with open(cache_dir / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sync_images(client: RegionClient, cache_dir: Path | str | None = None,
                report_every: float = 1.0) -> dict:
    """Sync the cache once; answers {state, errors, files, downloaded_*, removed}."""
    cache_dir = Path(cache_dir or default_cache_dir())
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir):
        return ImageSync(client, cache_dir, report_every).run()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rack_worker.imagecache",
                                     description="Sync the rack's image cache from the region.")
    parser.add_argument("--region-url", default=env_region_urls(),
                        help="the region URL, or several comma-separated (failover)")
    parser.add_argument("--credentials", default=os.environ.get("RACK_CREDENTIALS", ""))
    parser.add_argument("--cache-dir", default="", help="default $VAR_DIR/rack/cache")
    parser.add_argument("--interval", type=float,
                        default=float(os.environ.get("RACK_IMAGE_SYNC_INTERVAL", "60")),
                        help="seconds between syncs (default $RACK_IMAGE_SYNC_INTERVAL or 60)")
    parser.add_argument("--once", action="store_true", help="sync once and exit")
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    if not args.region_url or not args.credentials:
        parser.error("needs --region-url and --credentials (rackd passes both)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    credentials = json.loads(Path(args.credentials).read_text())
    client = RegionClient(args.region_url, credentials["system_id"], credentials["token"],
                          timeout=60.0)
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    while True:
        try:
            result = sync_images(client, cache_dir)
            log.info("Image sync %s: %d files, %d downloaded, %d removed", result["state"],
                     result["files"], result["downloaded_files"], len(result["removed"]))
        except (RegionError, OSError, ValueError) as exc:
            log.error("Image sync failed: %s", exc)
            if args.once:
                return 1
        if args.once:
            return 0 if result["state"] == "synced" else 1
        if stopping.wait(args.interval):
            return 0


if __name__ == "__main__":
    sys.exit(main())
