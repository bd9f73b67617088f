"""The image cache reports which files it holds (path -> sha256), for the region's images page."""
import hashlib
import os

from rack_worker import imagecache
from tests.rack_worker.test_imagecache import FakeRegion


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_held_grows_file_by_file_and_a_later_sync_reports_all_at_once(tmp_path):
    files = {f"images/f{i}": os.urandom(5_000) for i in range(3)}
    fake = FakeRegion(files)
    imagecache.sync_images(fake, tmp_path, report_every=0)
    assert [len(r["held"]) for r in fake.reports if r["files_done"] == 1][-1] == 1
    assert fake.reports[-1]["held"] == {path: _sha(data) for path, data in files.items()}
    fake.reports.clear()
    imagecache.sync_images(fake, tmp_path, report_every=0)
    assert all(len(report["held"]) == 3 for report in fake.reports)


def test_a_file_that_fails_or_goes_bad_is_not_held(tmp_path):
    good, bad = os.urandom(3_000), os.urandom(3_000)
    manifest = [{"path": "images/good", "size": len(good), "sha256": _sha(good)},
                {"path": "images/bad", "size": len(bad), "sha256": "0" * 64}]
    fake = FakeRegion({"images/good": good, "images/bad": bad}, manifest)
    result = imagecache.sync_images(fake, tmp_path, report_every=0)
    assert result["state"] == "failed"
    assert fake.reports[-1]["held"] == {"images/good": _sha(good)}
    (tmp_path / "images/good").write_bytes(b"corrupted")
    fake.manifest = manifest[:1]
    fake.files["images/good"] = good
    fake.reports.clear()
    imagecache.sync_images(fake, tmp_path, report_every=0)
    assert "images/good" not in fake.reports[0]["held"]
    assert fake.reports[-1]["held"] == {"images/good": _sha(good)}
