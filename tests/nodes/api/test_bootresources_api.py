"""Boot resources API: list with racks' sync progress, create, delete, streamed upload, racks."""
import hashlib
import http.client
from urllib.parse import urlsplit

import pytest
from django.http.request import HttpRequest

from bootsvc.region import RegionClient
from nodes.models import BootResource, BootResourceFile
from rack_worker import imagecache
from tests.factories import AdminFactory, RackControllerFactory, make_api_key
from tests.nodes.bootresource_factories import DISK, BootResourceFactory, payloads
from tests.zones.rack_helpers import register

pytestmark = pytest.mark.django_db
DATA = DISK  # a raw disk image (MBR signature), more than one chunk
PAYLOADS = payloads()  # {format: valid content}
FILETYPE = {"raw": "root-image", "gz": "root-image", "zst": "root-image", "tgz": "root-tgz"}
URL = "/api/v1/boot-resources/"


@pytest.fixture
def root(tmp_path, settings):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "boot-resources")
    return tmp_path / "boot-resources"


@pytest.fixture
def no_body_buffering(monkeypatch):
    """Fail if any code reads the whole request body into memory (HttpRequest.body)."""
    def refuse(self):
        raise AssertionError("request.body was read: the upload was buffered")

    monkeypatch.setattr(HttpRequest, "body", property(refuse))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put(client, resource, data=DATA, sha=None, size=None, filetype="root-image", fmt=None):
    query = f"?sha256={sha or _sha(data)}" + (f"&size={size}" if size is not None else "")
    query += f"&image_format={fmt}" if fmt else ""
    return client.put(f"{URL}{resource.pk}/files/{filetype}/{query}", data=data,
                      content_type="application/octet-stream")


def _leftovers(root):
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_admin_creates_and_users_list(admin_client, user_client):
    response = admin_client.post(URL, {"os": "custom", "series": "rocky9",
                                       "architecture": "amd64/generic", "kind": "deployable",
                                       "origin": "uploaded", "title": "Rocky"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "custom/rocky9" and response.json()["files"] == []
    listed = user_client.get(URL).json()["results"]
    assert [item["name"] for item in listed] == ["custom/rocky9"]
    assert user_client.get(f"{URL}{listed[0]['id']}/").status_code == 200


def test_bad_create_is_400(admin_client):
    response = admin_client.post(URL, {"os": "custom", "series": "../x", "architecture": "amd64",
                                       "kind": "deployable", "origin": "uploaded"},
                                 format="json")
    assert response.status_code == 400 and "series" in response.json()
    assert admin_client.post(URL, {"kind": "nope"}, format="json").status_code == 400


def test_permissions(user_client, anon_client, root):
    resource = BootResourceFactory()
    assert user_client.post(URL, {"os": "a", "series": "b", "architecture": "amd64",
                                  "kind": "deployable", "origin": "uploaded"},
                            format="json").status_code == 403
    assert user_client.delete(f"{URL}{resource.pk}/").status_code == 403
    assert _put(user_client, resource).status_code == 403
    assert anon_client.get(URL).status_code == 401
    assert _put(anon_client, resource).status_code == 401
    assert BootResource.objects.count() == 1 and not BootResourceFile.objects.exists()
    assert _leftovers(root) == []


def test_upload_is_streamed_verified_and_listed(admin_client, root, no_body_buffering):
    resource = BootResourceFactory(series="rocky9", kind="deployable", origin="uploaded")
    response = _put(admin_client, resource, size=len(DATA), fmt="raw")
    assert response.status_code == 201, response.content
    path = "images/deployable/amd64/generic/rocky9/root.img"
    assert response.json()["files"] == [{**response.json()["files"][0], "filetype": "root-image",
                                         "format": "raw", "path": path, "size": len(DATA),
                                         "sha256": _sha(DATA)}]
    assert (root / path).read_bytes() == DATA and _leftovers(root) == [root / path]


@pytest.mark.parametrize("sha, size", [("0" * 64, None), (None, len(DATA) + 5),
                                       (None, len(DATA) - 5), ("zz", None)])
def test_a_bad_checksum_or_size_is_400_and_keeps_nothing(admin_client, root, sha, size):
    resource = BootResourceFactory()
    response = _put(admin_client, resource, sha=sha, size=size)
    assert response.status_code == 400
    assert set(response.json()) & {"sha256", "size"}
    assert not BootResourceFile.objects.exists()
    assert _leftovers(root) == []  # neither the file nor a temp file


def test_upload_errors(admin_client, root):
    resource = BootResourceFactory()
    assert _put(admin_client, resource, filetype="bogus").status_code == 400
    assert admin_client.put(f"{URL}{resource.pk}/files/kernel/", data=b"x",
                            content_type="application/octet-stream").status_code == 400
    assert _put(admin_client, BootResource(pk=999)).status_code == 404
    assert _leftovers(root) == []


@pytest.mark.parametrize("fmt", sorted(PAYLOADS))
def test_each_deployable_format_uploads_and_is_listed(admin_client, root, no_body_buffering, fmt):
    resource = BootResourceFactory(series="custom1", kind="deployable", origin="uploaded")
    data = PAYLOADS[fmt]
    response = _put(admin_client, resource, data=data, size=len(data), filetype=FILETYPE[fmt],
                    fmt=fmt)
    assert response.status_code == 201, response.content
    (listed,) = response.json()["files"]
    name = {"raw": "root.img", "gz": "root.img.gz", "zst": "root.img.zst", "tgz": "root.tar.gz"}
    assert (listed["filetype"], listed["format"], listed["sha256"]) == (FILETYPE[fmt], fmt,
                                                                        _sha(data))
    assert listed["path"] == f"images/deployable/amd64/generic/custom1/{name[fmt]}"
    assert (root / listed["path"]).read_bytes() == data and _leftovers(root) == [
        root / listed["path"]]


@pytest.mark.parametrize("fmt", sorted(PAYLOADS))
def test_a_deployable_format_with_a_wrong_checksum_is_400(admin_client, root, fmt):
    resource = BootResourceFactory(kind="deployable")
    response = _put(admin_client, resource, data=PAYLOADS[fmt], sha="0" * 64,
                    filetype=FILETYPE[fmt], fmt=fmt)
    assert response.status_code == 400 and "sha256" in response.json()
    assert not BootResourceFile.objects.exists() and _leftovers(root) == []


@pytest.mark.parametrize("declared, actual", [("raw", "gz"), ("gz", "raw"), ("gz", "tgz"),
                                              ("zst", "gz"), ("tgz", "raw"), ("tgz", "gz")])
def test_content_not_in_the_declared_format_is_400(admin_client, root, declared, actual):
    resource = BootResourceFactory(kind="deployable")
    response = _put(admin_client, resource, data=PAYLOADS[actual], filetype=FILETYPE[declared],
                    fmt=declared)
    assert response.status_code == 400
    assert list(response.json()) == ["format"], response.json()
    assert not BootResourceFile.objects.exists() and _leftovers(root) == []


@pytest.mark.parametrize("filetype, fmt", [("root-image", None), ("root-image", "tgz"),
                                           ("root-image", "lz4"), ("kernel", "raw")])
def test_a_missing_or_wrong_format_is_400(admin_client, root, filetype, fmt):
    resource = BootResourceFactory(kind="deployable")
    response = _put(admin_client, resource, filetype=filetype, fmt=fmt)
    assert response.status_code == 400
    assert set(response.json()) == ({"image_format"} if fmt == "lz4" else {"format"})
    assert not BootResourceFile.objects.exists() and _leftovers(root) == []


def test_delete_removes_resource_and_files(admin_client, root):
    resource = BootResourceFactory()
    assert _put(admin_client, resource).status_code == 201
    assert admin_client.delete(f"{URL}{resource.pk}/").status_code == 204
    assert not BootResource.objects.exists() and _leftovers(root) == []


def test_listing_shows_the_racks_sync_progress(user_client):
    BootResourceFactory()
    RackControllerFactory(name="rack-a", image_sync={"state": "synced", "files_done": 3})
    RackControllerFactory(name="rack-b")
    item = user_client.get(URL).json()["results"][0]
    assert item["rack_sync"]["rack-a"] == {"state": "synced", "files_done": 3}
    assert "rack-b" in item["rack_sync"]


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_image_reaches_a_rack(live_server, root, tmp_path):
    admin = AdminFactory()
    resource = BootResourceFactory(series="rocky9", kind="deployable", origin="uploaded")
    target = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    source = tmp_path / "upload.img"
    source.write_bytes(DATA)
    with open(source, "rb") as body:  # http.client sends the file in blocks
        connection.request("PUT", f"{URL}{resource.pk}/files/root-image/?sha256={_sha(DATA)}"
                           "&image_format=raw",
                           body=body, headers={"Authorization": f"Bearer {make_api_key(admin)}",
                                               "Content-Type": "application/octet-stream",
                                               "Content-Length": str(len(DATA))})
        answer = connection.getresponse()
    assert answer.status == 201, answer.read()
    rack, token = register("rack1")
    region = RegionClient(live_server.url, rack.system_id, token, retries=0)
    path = "images/deployable/amd64/generic/rocky9/root.img"
    manifest = region.get_image_manifest()  # through the rack API, with the rack's token
    assert [(f["path"], f["size"], f["sha256"]) for f in manifest["files"]] == [
        (path, len(DATA), _sha(DATA))]
    result = imagecache.sync_images(region, tmp_path / "cache", report_every=0)
    assert result["state"] == "synced" and result["downloaded_files"] == 1
    assert (tmp_path / "cache" / path).read_bytes() == DATA
    rack.refresh_from_db()
    assert rack.image_sync["state"] == "synced"

