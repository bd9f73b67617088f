"""The rack image cache: sync from a live region, verify, resume, remove, report progress."""
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest

from bootsvc.region import RegionClient
from rack_worker import imagecache, rackd
from tests.nodes.bootresource_factories import register_boot_files
from tests.zones.rack_helpers import register
from zones.api import rack_images
from zones.models import RackController
from zones.services import bootfiles

KERNEL = os.urandom(300_000)
INITRD = os.urandom(120_000)
LOADER = b"region-lpxelinux"
LINUX = "images/ephemeral/amd64/linux"
INITRD_PATH = "images/ephemeral/amd64/initrd.gz"
live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def resources(tmp_path, settings):
    root = tmp_path / "boot-resources"
    (root / "images/ephemeral/amd64").mkdir(parents=True)
    (root / LINUX).write_bytes(KERNEL)
    (root / INITRD_PATH).write_bytes(INITRD)
    (root / "lpxelinux.0").write_bytes(LOADER)
    settings.BOOT_RESOURCES_DIR = str(root)
    register_boot_files({LINUX: "kernel", INITRD_PATH: "initrd", "lpxelinux.0": "loader"})
    return root


@pytest.fixture
def region(live_server, resources):
    rack, token = register("rack1")
    client = RegionClient(live_server.url, rack.system_id, token, retries=0)
    client.rack = rack
    return client


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def ranges(monkeypatch):
    """The Range headers the live region parsed."""
    seen, real = [], rack_images.parse_range
    monkeypatch.setattr(rack_images, "parse_range",
                        lambda header, size: seen.append(header) or real(header, size))
    return seen


def _sync(region, cache):
    return imagecache.sync_images(region, cache, report_every=0)


def _image_sync(region) -> dict:
    return RackController.objects.get(pk=region.rack.pk).image_sync


@live
def test_first_sync_downloads_and_verifies_everything_then_nothing(region, cache, monkeypatch):
    result = _sync(region, cache)
    assert result["state"] == "synced" and result["errors"] == []
    assert result["downloaded_files"] == 3
    assert result["downloaded_bytes"] == len(KERNEL) + len(INITRD) + len(LOADER)
    assert (cache / LINUX).read_bytes() == KERNEL
    assert (cache / INITRD_PATH).read_bytes() == INITRD
    assert (cache / "lpxelinux.0").read_bytes() == LOADER
    assert not list(cache.rglob("*.part"))
    sync = _image_sync(region)
    total = len(KERNEL) + len(INITRD) + len(LOADER)
    assert sync["state"] == "synced" and sync["bytes_done"] == sync["bytes_total"] == total
    assert sync["files_done"] == sync["files_total"] == 3 and sync["updated"]
    hashed = []
    monkeypatch.setattr(imagecache, "file_sha256", lambda path: hashed.append(path) or "")
    again = _sync(region, cache)
    assert again["state"] == "synced"
    assert again["downloaded_bytes"] == again["downloaded_files"] == 0 and again["removed"] == []
    assert hashed == []  # the index vouches for unchanged files


@live
def test_a_partial_download_resumes_with_a_range_request(region, cache, ranges):
    part = cache / (LINUX + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(KERNEL[:100_000])
    result = _sync(region, cache)
    assert result["state"] == "synced"
    assert "bytes=100000-" in ranges
    assert result["downloaded_bytes"] == len(KERNEL) - 100_000 + len(INITRD) + len(LOADER)
    assert (cache / LINUX).read_bytes() == KERNEL and not part.exists()


@live
def test_a_corrupt_partial_download_is_restarted_from_scratch(region, cache, ranges):
    part = cache / (LINUX + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 1000)
    result = _sync(region, cache)
    assert result["state"] == "synced" and "bytes=1000-" in ranges
    assert (cache / LINUX).read_bytes() == KERNEL


@live
def test_a_corrupted_or_lost_cached_file_is_fetched_again(region, cache):
    _sync(region, cache)
    kernel = cache / LINUX
    stat = kernel.stat()
    data = bytearray(kernel.read_bytes())
    data[1000] ^= 0xFF
    kernel.write_bytes(bytes(data))
    os.utime(kernel, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime
    (cache / INITRD_PATH).unlink()
    result = _sync(region, cache)
    assert result["state"] == "synced" and result["downloaded_files"] == 2
    assert kernel.read_bytes() == KERNEL and (cache / INITRD_PATH).read_bytes() == INITRD


@live
def test_files_the_region_drops_are_removed_and_others_left_alone(region, cache, resources):
    cache.mkdir()
    (cache / "ldlinux.c32").write_bytes(b"seeded by bootsvc")
    _sync(region, cache)
    (cache / "images/old/arm64").mkdir(parents=True)
    (cache / "images/old/arm64/linux").write_bytes(b"stale")
    (cache / "images/stale.part").write_bytes(b"stale")
    (resources / INITRD_PATH).unlink()
    (resources / "lpxelinux.0").unlink()
    result = _sync(region, cache)
    assert result["state"] == "synced"
    assert sorted(result["removed"]) == sorted(
        [INITRD_PATH, "lpxelinux.0", "images/old/arm64/linux", "images/stale.part"])
    assert not (cache / INITRD_PATH).exists() and not (cache / "images/old").exists()
    assert not (cache / "lpxelinux.0").exists()
    assert (cache / "ldlinux.c32").read_bytes() == b"seeded by bootsvc"
    assert (cache / LINUX).read_bytes() == KERNEL
    assert (resources / LINUX).exists()


@live
def test_the_regions_copy_wins_and_a_changed_file_is_replaced(region, cache, resources):
    cache.mkdir()
    (cache / "lpxelinux.0").write_bytes(b"debian's loader")
    _sync(region, cache)
    assert (cache / "lpxelinux.0").read_bytes() == LOADER
    new_kernel = os.urandom(len(KERNEL))
    (resources / LINUX).write_bytes(new_kernel)
    result = _sync(region, cache)
    assert result["state"] == "synced" and result["downloaded_files"] == 1
    assert (cache / LINUX).read_bytes() == new_kernel


@live
def test_a_sha256_mismatch_fails_the_file_and_leaves_nothing(region, cache, monkeypatch):
    real = bootfiles.boot_files
    wrong = "0" * 64
    monkeypatch.setattr(bootfiles, "boot_files", lambda: [
        dataclasses.replace(item, sha256=wrong) if item.path == LINUX else item
        for item in real()])
    downloads = []
    real_download = region.download_image
    monkeypatch.setattr(region, "download_image",
                        lambda path, *a, **k: downloads.append(path) or real_download(path, *a,
                                                                                      **k))
    result = _sync(region, cache)
    assert result["state"] == "failed"
    assert downloads.count(LINUX) == 2  # retried once from scratch
    assert LINUX in result["errors"][0] and "sha256" in result["errors"][0]
    assert not (cache / LINUX).exists() and not (cache / (LINUX + ".part")).exists()
    assert (cache / INITRD_PATH).read_bytes() == INITRD
    sync = _image_sync(region)
    assert sync["state"] == "failed" and LINUX in sync["error"]
    assert sync["files_done"] == 2 and sync["files_total"] == 3


@live
def test_main_once_syncs_with_the_credentials_file(region, cache, tmp_path, live_server):
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"system_id": region.system_id, "token": region.token}))
    code = imagecache.main(["--region-url", live_server.url, "--credentials", str(credentials),
                            "--cache-dir", str(cache), "--once"])
    assert code == 0 and (cache / LINUX).read_bytes() == KERNEL


class FakeRegion:
    """A region client serving a manifest and files from memory, recording progress."""

    def __init__(self, files: dict[str, bytes], manifest: list[dict] | None = None):
        self.files, self.reports = files, []
        self.manifest = manifest if manifest is not None else [
            {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for p, d in files.items()]

    def get_image_manifest(self) -> dict:
        return {"files": self.manifest, "etag": "x"}

    def download_image(self, path, dest_file, offset=0, on_chunk=None) -> int:
        data = self.files[path][offset:]
        for start in range(0, len(data), 1000):
            dest_file.write(data[start:start + 1000])
            if on_chunk:
                on_chunk(len(data[start:start + 1000]))
        return len(data)

    def post_image_progress(self, progress: dict) -> dict:
        self.reports.append(progress)
        return progress


def test_progress_is_reported_at_most_every_second_and_at_the_end(cache):
    fake = FakeRegion({f"images/f{i}": os.urandom(20_000) for i in range(5)})
    result = imagecache.sync_images(fake, cache, report_every=60)
    assert result["state"] == "synced"
    assert [r["state"] for r in fake.reports] == ["syncing", "synced"]
    assert fake.reports[-1]["bytes_done"] == fake.reports[-1]["bytes_total"] == 100_000
    fake.reports.clear()
    imagecache.sync_images(fake, cache, report_every=0)
    assert fake.reports[-1]["files_done"] == 5 and len(fake.reports) > 2


def test_unsafe_manifest_paths_are_refused(tmp_path, cache):
    bad = ["../escape", "/etc/evil", "images/../../escape", "images/x.part",
           imagecache.INDEX_NAME, "", "images//x"]
    fake = FakeRegion({}, [{"path": p, "size": 1, "sha256": "0" * 64} for p in bad]
                      + [{"path": "ok", "size": "1", "sha256": "0" * 64}])
    result = imagecache.sync_images(fake, cache)
    assert result["state"] == "failed" and len(result["errors"]) == len(bad) + 1
    assert not (tmp_path / "escape").exists()
    assert fake.reports[-1]["files_total"] == 0


def test_a_symlinked_dir_in_the_cache_is_not_written_through(tmp_path, cache):
    outside = tmp_path / "outside"
    outside.mkdir()
    cache.mkdir()
    (cache / "images").symlink_to(outside)
    fake = FakeRegion({"images/linux": b"kernel"})
    result = imagecache.sync_images(fake, cache)
    assert result["state"] == "failed" and list(outside.iterdir()) == []
    (outside / "keep").write_bytes(b"keep")
    imagecache.sync_images(FakeRegion({}), cache)
    assert (outside / "keep").exists()


def test_cache_path():
    root = Path("/tmp/nonexistent-cache")
    assert imagecache.cache_path(root, LINUX) == root / LINUX
    assert imagecache.cache_path(root, "../x") is None
    assert imagecache.cache_path(root, "a/./b") is None


def test_rackd_runs_the_image_cache_beside_bootsvc(monkeypatch):
    monkeypatch.setattr(rackd, "bootsvc_available", lambda: True)
    args = rackd.parse_args(["--region-url", "http://x/", "--name", "r1"])
    children = {child.name: child for child in rackd.Rackd(args).make_children()}
    assert children["imagecache"].argv[1:] == ["-m", "rack_worker.imagecache"]
    assert children["imagecache"].env["RACK_REGION_URL"] == "http://x/"
    assert children["imagecache"].env["RACK_REGION_URLS"] == "http://x/"
    assert children["imagecache"].env["RACK_CREDENTIALS"].endswith("credentials.json")


def test_the_image_cache_takes_every_region_rackd_knows(monkeypatch):
    monkeypatch.setenv("RACK_REGION_URL", "http://a/")
    monkeypatch.setenv("RACK_REGION_URLS", "http://a/,http://b/")
    args = imagecache.parse_args(["--credentials", "c.json"])
    assert RegionClient(args.region_url).urls == ["http://a/", "http://b/"]
