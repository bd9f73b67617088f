"""Boot resource services: create, streamed upload with sha256 check, register, delete."""
import hashlib
import io

import pytest
from django.core.exceptions import ValidationError

from nodes.models import BootResource, BootResourceFile, Event
from nodes.services import bootresources
from nodes.services.errors import NotPermitted
from tests.factories import AdminFactory, UserFactory
from tests.nodes.bootresource_factories import BootResourceFactory

pytestmark = pytest.mark.django_db
DATA = b"kernel-bytes" * 100_000  # > one chunk


@pytest.fixture
def root(tmp_path, settings):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "boot-resources")
    return tmp_path / "boot-resources"


@pytest.fixture
def admin_user():
    return AdminFactory()


class ChunkOnly(io.BytesIO):
    """A stream that refuses to be read whole, as a request body must never be."""

    def read(self, size=-1):
        assert size is not None and 0 < size <= bootresources.CHUNK
        return super().read(size)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _upload(user, resource, data=DATA, sha=None, size=None, filetype="kernel"):
    return bootresources.boot_resource_file_upload(
        user, resource, filetype, ChunkOnly(data), sha or _sha(data), size)


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_create_names_the_resource_and_records_an_event(admin_user):
    resource = bootresources.boot_resource_create(
        admin_user, os="custom", series="rocky9", architecture="amd64/generic",
        kind="deployable", origin="uploaded", title="Rocky 9")
    assert resource.name == "custom/rocky9" and resource.kind == "deployable"
    assert Event.objects.filter(type="boot_resource_created", user=admin_user).exists()


@pytest.mark.parametrize("fields", [
    {"series": "../etc"}, {"architecture": "amd64/../x"}, {"kind": "weird"}, {"origin": "x"},
])
def test_create_rejects_bad_fields(admin_user, fields):
    base = {"os": "custom", "series": "s", "architecture": "amd64/generic",
            "kind": "deployable", "origin": "uploaded"}
    with pytest.raises(ValidationError):
        bootresources.boot_resource_create(admin_user, **{**base, **fields})
    assert not BootResource.objects.exists()


def test_only_admins_write(root):
    user, resource = UserFactory(), BootResourceFactory()
    with pytest.raises(NotPermitted):
        bootresources.boot_resource_create(user, os="a", series="b", architecture="amd64",
                                           kind="deployable", origin="uploaded")
    with pytest.raises(NotPermitted):
        _upload(user, resource)
    with pytest.raises(NotPermitted):
        bootresources.boot_resource_delete(user, resource)
    assert not root.exists() or _files(root) == []


def test_upload_streams_verifies_and_stores_file_and_row(root, admin_user):
    resource = BootResourceFactory(series="jammy", kind="deployable")
    row = _upload(admin_user, resource, size=len(DATA))
    assert row.path == "images/deployable/amd64/generic/jammy/boot-kernel"
    assert (row.size, row.sha256) == (len(DATA), _sha(DATA))
    assert (root / row.path).read_bytes() == DATA
    assert _files(root) == [row.path]  # no temp file left behind
    assert Event.objects.filter(type="boot_resource_uploaded").count() == 1


def test_a_new_upload_replaces_the_file(root, admin_user):
    resource = BootResourceFactory()
    _upload(admin_user, resource)
    row = _upload(admin_user, resource, data=b"v2")
    assert BootResourceFile.objects.get().sha256 == _sha(b"v2")
    assert (root / row.path).read_bytes() == b"v2" and _files(root) == [row.path]


@pytest.mark.parametrize("sha, size, field", [
    ("0" * 64, None, "sha256"),
    (None, len(DATA) + 1, "size"),
    (None, len(DATA) - 1, "size"),  # stops reading early
    ("not-a-digest", None, "sha256"),
])
def test_a_bad_upload_keeps_nothing(root, admin_user, sha, size, field):
    resource = BootResourceFactory()
    with pytest.raises(ValidationError) as error:
        _upload(admin_user, resource, sha=sha, size=size)
    assert field in error.value.message_dict
    assert not BootResourceFile.objects.exists()
    assert not root.exists() or list(root.rglob("*")) == []


def test_a_failed_db_write_removes_the_file(root, admin_user, monkeypatch):
    resource = BootResourceFactory()

    def boom(*args, **kwargs):
        raise RuntimeError("db down")

    monkeypatch.setattr(bootresources, "event_record", boom)
    with pytest.raises(RuntimeError):
        _upload(admin_user, resource)
    assert not BootResourceFile.objects.exists()
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_bad_filetype_is_rejected_before_reading(root, admin_user):
    with pytest.raises(ValidationError):
        _upload(admin_user, BootResourceFactory(), filetype="bogus")


def test_register_file_computes_size_and_sha256(root):
    (root / "images/x").mkdir(parents=True)
    (root / "images/x/kernel").write_bytes(b"abc")
    row = bootresources.boot_resource_register_file(BootResourceFactory(), "kernel",
                                                    "images/x/kernel")
    assert (row.size, row.sha256) == (3, _sha(b"abc"))


@pytest.mark.parametrize("path", ["../secret", "/etc/passwd", "missing", "link"])
def test_register_refuses_paths_outside_or_not_regular(root, tmp_path, path):
    root.mkdir(parents=True)
    (tmp_path / "secret").write_bytes(b"s")
    (root / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(ValidationError):
        bootresources.boot_resource_register_file(BootResourceFactory(), "kernel", path)


def test_delete_removes_rows_and_files(root, admin_user):
    resource, other = BootResourceFactory(), BootResourceFactory()
    _upload(admin_user, resource)
    _upload(admin_user, resource, data=b"initrd", filetype="initrd")
    kept = _upload(admin_user, other)
    bootresources.boot_resource_delete(admin_user, resource)
    assert not BootResource.objects.filter(pk=resource.pk).exists()
    assert _files(root) == [kept.path]
    assert Event.objects.filter(type="boot_resource_deleted").exists()


def test_a_path_of_another_resource_is_refused(root, admin_user):
    ubuntu = BootResourceFactory(os="ubuntu", series="jammy")
    custom = BootResourceFactory(os="custom", series="jammy")
    row = _upload(admin_user, ubuntu)
    with pytest.raises(ValidationError):
        _upload(admin_user, custom, data=b"other")
    with pytest.raises(ValidationError):
        bootresources.boot_resource_register_file(custom, "kernel", row.path)
    assert (root / row.path).read_bytes() == DATA and _files(root) == [row.path]


def test_a_resource_may_register_several_loaders(root):
    root.mkdir(parents=True)
    for name in ("lpxelinux.0", "bootx64.efi"):
        (root / name).write_bytes(name.encode())
    resource = BootResourceFactory()
    for name in ("lpxelinux.0", "bootx64.efi"):
        bootresources.boot_resource_register_file(resource, "loader", name)
    assert sorted(resource.files.values_list("path", flat=True)) == ["bootx64.efi", "lpxelinux.0"]


def test_imported_ephemeral_image_is_registered_for_the_racks(root):
    """import_boot_images registers its kernel and initrd: they join the rack manifest."""
    from zones.services.bootfiles import boot_files

    image = root / "images" / "ephemeral" / "amd64"
    image.mkdir(parents=True)
    (image / "linux").write_bytes(b"kernel")
    (image / "initrd.gz").write_bytes(b"initrd")
    first = bootresources.boot_resource_register_ephemeral(
        image / "linux", image / "initrd.gz", series="bookworm")
    again = bootresources.boot_resource_register_ephemeral(
        image / "linux", image / "initrd.gz", series="bookworm")
    assert first.pk == again.pk and first.kind == "ephemeral"
    listed = {entry.path: entry.sha256 for entry in boot_files()}
    assert listed == {"images/ephemeral/amd64/linux": _sha(b"kernel"),
                      "images/ephemeral/amd64/initrd.gz": _sha(b"initrd")}
