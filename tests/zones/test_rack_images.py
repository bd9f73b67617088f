"""The rack image API: the boot-resource manifest, file downloads with Range, sync progress."""
import hashlib
import os

import pytest

from tests.nodes.bootresource_factories import register_boot_files
from tests.zones.rack_helpers import rack_client, register
from zones.api.rack_images import parse_range
from zones.services import bootfiles

pytestmark = pytest.mark.django_db
KERNEL = b"kernel-" * 1000
INITRD = b"initrd" * 500


@pytest.fixture
def resources(tmp_path, settings):
    root = tmp_path / "boot-resources"
    (root / "images/ephemeral/amd64").mkdir(parents=True)
    (root / "images/ephemeral/amd64/linux").write_bytes(KERNEL)
    (root / "images/ephemeral/amd64/initrd.gz").write_bytes(INITRD)
    (root / "lpxelinux.0").write_bytes(b"loader")
    settings.BOOT_RESOURCES_DIR = str(root)
    register_boot_files({"images/ephemeral/amd64/linux": "kernel",
                         "images/ephemeral/amd64/initrd.gz": "initrd", "lpxelinux.0": "loader"})
    return root


@pytest.fixture
def client():
    return rack_client(*register("rack1"))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_manifest_lists_every_regular_file_with_size_and_sha256(resources, client, tmp_path):
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    (resources / "link").symlink_to(outside)
    (resources / "images/linkdir").symlink_to(tmp_path)
    response = client.get("/api/v1/rack/images/")
    assert response.status_code == 200
    body = response.json()
    assert body["files"] == [
        {"path": "images/ephemeral/amd64/initrd.gz", "size": len(INITRD), "sha256": _sha(INITRD)},
        {"path": "images/ephemeral/amd64/linux", "size": len(KERNEL), "sha256": _sha(KERNEL)},
        {"path": "lpxelinux.0", "size": 6, "sha256": _sha(b"loader")},
    ]
    assert response["ETag"] == body["etag"]


def test_manifest_hashes_each_unchanged_file_once(resources, client, monkeypatch):
    client.get("/api/v1/rack/images/")
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: opened.append(p) or real_open(p, *a,
                                                                                       **k))
    first = client.get("/api/v1/rack/images/").json()
    assert opened == []
    (resources / "lpxelinux.0").write_bytes(b"loader2")
    second = client.get("/api/v1/rack/images/").json()
    assert [str(path) for path in opened] == [str(resources / "lpxelinux.0")]
    assert second["etag"] != first["etag"]
    assert second["files"][2]["sha256"] == _sha(b"loader2")


def test_manifest_of_a_missing_dir_is_empty(tmp_path, settings, client):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "none")
    assert client.get("/api/v1/rack/images/").json()["files"] == []


def test_image_api_needs_rack_credentials(resources, anon_client, admin_client):
    for api in (anon_client, admin_client):
        assert api.get("/api/v1/rack/images/").status_code in (401, 403)
        assert api.get("/api/v1/rack/images/lpxelinux.0").status_code in (401, 403)


def test_file_download_streams_the_whole_file(resources, client):
    response = client.get("/api/v1/rack/images/images/ephemeral/amd64/linux")
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert int(response["Content-Length"]) == len(KERNEL)
    assert _body(response) == KERNEL


@pytest.mark.parametrize("header, start, end", [
    ("bytes=100-", 100, len(KERNEL) - 1),
    ("bytes=10-19", 10, 19),
    ("bytes=-50", len(KERNEL) - 50, len(KERNEL) - 1),
    ("bytes=6990-99999", 6990, len(KERNEL) - 1),
])
def test_range_answers_206_with_content_range(resources, client, header, start, end):
    response = client.get("/api/v1/rack/images/images/ephemeral/amd64/linux", HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(KERNEL)}"
    assert int(response["Content-Length"]) == end - start + 1
    assert _body(response) == KERNEL[start:end + 1]


def test_unsatisfiable_range_is_416_and_a_multi_range_gets_the_whole_file(resources, client):
    path = "/api/v1/rack/images/lpxelinux.0"
    response = client.get(path, HTTP_RANGE="bytes=6-")
    assert response.status_code == 416 and response["Content-Range"] == "bytes */6"
    response = client.get(path, HTTP_RANGE="bytes=0-1,3-4")
    assert response.status_code == 200 and _body(response) == b"loader"


def test_parse_range():
    assert parse_range("bytes=0-", 10) == (0, 9)
    assert parse_range("bytes=5-2", 10) == "unsatisfiable"
    assert parse_range("bytes=-0", 10) == "unsatisfiable"
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=-", 10) is None


def test_unknown_files_and_traversal_are_refused(resources, client, tmp_path):
    (tmp_path / "secret").write_bytes(b"secret")
    (resources / "link").symlink_to(tmp_path / "secret")
    for path in ("nothing", "images", "link", "../secret", "images/../../secret",
                 "%2e%2e/secret", "images/%2e%2e/%2e%2e/secret", "/etc/passwd"):
        response = client.get(f"/api/v1/rack/images/{path}")
        assert response.status_code == 404, path
    assert bootfiles.boot_file("../secret") is None
    assert bootfiles.boot_file("/" + str(tmp_path / "secret")) is None


def _progress(**overrides) -> dict:
    return {"bytes_done": 50, "bytes_total": 100, "files_done": 1, "files_total": 3,
            "state": "syncing", "error": "", **overrides}


def test_progress_is_stored_and_visible_in_the_racks_api(client, admin_client):
    response = client.post("/api/v1/rack/images/progress/", _progress(), format="json")
    assert response.status_code == 200, response.data
    racks = admin_client.get("/api/v1/racks/").json()
    racks = racks.get("results", racks) if isinstance(racks, dict) else racks
    sync = racks[0]["image_sync"]
    assert {k: sync[k] for k in _progress()} == _progress()
    assert sync["updated"]
    client.post("/api/v1/rack/images/progress/", _progress(bytes_done=100, files_done=3,
                                                           state="synced"), format="json")
    racks = admin_client.get("/api/v1/racks/").json()
    racks = racks.get("results", racks) if isinstance(racks, dict) else racks
    assert racks[0]["image_sync"]["state"] == "synced"


@pytest.mark.parametrize("bad", [
    {"state": "done"}, {"bytes_done": -1}, {"bytes_done": 101}, {"files_done": 4},
    {"files_total": "x"}, {"state": None},
])
def test_bad_progress_is_400(client, bad):
    response = client.post("/api/v1/rack/images/progress/", _progress(**bad), format="json")
    assert response.status_code == 400


def test_dir_follows_the_setting(settings):
    settings.BOOT_RESOURCES_DIR = os.fspath(settings.VAR_DIR / "x")
    assert bootfiles.boot_resources_dir() == settings.VAR_DIR / "x"
