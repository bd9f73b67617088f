"""Boot resource services: create, streamed upload with sha256 check, register, delete."""
import hashlib
import io

import pytest
from django.core.exceptions import ValidationError

from maasproject.errors import NotPermitted
from nodes.bootimages import formats
from nodes.models import BootResource, BootResourceFile, Event
from nodes.services import bootresources
from tests.factories import AdminFactory, UserFactory
from tests.nodes.bootresource_factories import BootResourceFactory, payloads
from zones.services.bootfiles import boot_files

pytestmark = pytest.mark.django_db
DATA = b"kernel-bytes" * 100_000  # > one chunk
PAYLOADS = payloads()  # {format: valid content}
FILETYPE = {"raw": "root-image", "gz": "root-image", "zst": "root-image", "tgz": "root-tgz"}


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


# --- deployable images: formats ------------------------------------------------------------

def _deployable(**fields):
    return BootResourceFactory(**{"os": "custom", "series": "rocky9", "kind": "deployable",
                                  "origin": "uploaded", **fields})


def _upload_as(user, resource, fmt, data=None, sha=None):
    data = PAYLOADS[fmt] if data is None else data
    return bootresources.boot_resource_file_upload(
        user, resource, FILETYPE[fmt], ChunkOnly(data), sha or _sha(data), len(data), fmt)


@pytest.mark.parametrize("fmt", sorted(PAYLOADS))
def test_a_deployable_image_is_stored_with_its_format(root, admin_user, fmt):
    row = _upload_as(admin_user, _deployable(), fmt)
    assert (row.filetype, row.format) == (FILETYPE[fmt], fmt)
    assert row.path == f"images/deployable/amd64/generic/rocky9/{formats.filename(fmt)}"
    assert (row.size, row.sha256) == (len(PAYLOADS[fmt]), _sha(PAYLOADS[fmt]))
    assert (root / row.path).read_bytes() == PAYLOADS[fmt] and _files(root) == [row.path]
    assert f"({fmt})" in Event.objects.get(type="boot_resource_uploaded").description


def test_a_resource_holds_one_file_per_format(root, admin_user):
    resource = _deployable()
    for fmt in PAYLOADS:
        _upload_as(admin_user, resource, fmt)
    assert sorted(resource.files.values_list("format", flat=True)) == sorted(PAYLOADS)
    assert len(_files(root)) == len(PAYLOADS)


@pytest.mark.parametrize("fmt", sorted(PAYLOADS))
def test_a_deployable_image_with_a_wrong_checksum_keeps_nothing(root, admin_user, fmt):
    with pytest.raises(ValidationError) as error:
        _upload_as(admin_user, _deployable(), fmt, sha="0" * 64)
    assert "sha256" in error.value.message_dict
    assert not BootResourceFile.objects.exists() and _files(root) == []


@pytest.mark.parametrize("declared, actual", [
    (declared, actual) for declared in PAYLOADS for actual in PAYLOADS if declared != actual])
def test_content_not_in_the_declared_format_keeps_nothing(root, admin_user, declared, actual):
    with pytest.raises(ValidationError) as error:
        _upload_as(admin_user, _deployable(), declared, data=PAYLOADS[actual])
    assert list(error.value.message_dict) == ["format"]
    assert not BootResourceFile.objects.exists() and _files(root) == []


def test_a_mismatching_upload_keeps_the_previous_file(root, admin_user):
    resource = _deployable()
    kept = _upload_as(admin_user, resource, "gz")
    with pytest.raises(ValidationError):
        _upload_as(admin_user, resource, "gz", data=PAYLOADS["raw"])
    assert (root / kept.path).read_bytes() == PAYLOADS["gz"] and _files(root) == [kept.path]
    assert BootResourceFile.objects.get().sha256 == _sha(PAYLOADS["gz"])


@pytest.mark.parametrize("kind, filetype, fmt, expected", [
    ("deployable", "root-image", "raw", "raw"),
    ("deployable", "root-image", "", None),  # required
    ("deployable", "root-image", "tgz", None),
    ("deployable", "root-image", "bogus", None),
    ("deployable", "root-tgz", "", "tgz"),
    ("deployable", "root-tgz", "gz", None),
    ("deployable", "kernel", "", ""),
    ("deployable", "kernel", "raw", None),
    ("ephemeral", "root-image", "", ""),  # a squashfs: no format
    ("ephemeral", "root-image", "raw", None),
])
def test_which_files_take_which_formats(kind, filetype, fmt, expected):
    resource = BootResourceFactory(kind=kind)
    if expected is None:
        with pytest.raises(ValidationError) as error:
            bootresources.file_format_for(resource, filetype, fmt)
        assert "format" in error.value.message_dict
    else:
        assert bootresources.file_format_for(resource, filetype, fmt) == expected


def test_a_deployable_root_image_without_format_is_refused_before_reading(root, admin_user):
    class Unreadable:
        def read(self, size=-1):
            raise AssertionError("the body was read")

    with pytest.raises(ValidationError) as error:
        bootresources.boot_resource_file_upload(admin_user, _deployable(), "root-image",
                                                Unreadable(), "0" * 64)
    assert "format" in error.value.message_dict


def test_register_file_checks_the_format(root):
    folder = root / "images/deployable/amd64/generic/1"
    folder.mkdir(parents=True)
    (folder / "root.img").write_bytes(PAYLOADS["raw"])
    (folder / "root.img.gz").write_bytes(PAYLOADS["raw"])  # not gzip
    resource = _deployable(series="1")
    row = bootresources.boot_resource_register_file(
        resource, "root-image", "images/deployable/amd64/generic/1/root.img", "raw")
    assert (row.format, row.sha256) == ("raw", _sha(PAYLOADS["raw"]))
    with pytest.raises(ValidationError) as error:
        bootresources.boot_resource_register_file(
            resource, "root-image", "images/deployable/amd64/generic/1/root.img.gz", "gz")
    assert "format" in error.value.message_dict


def test_register_deployable_is_idempotent_and_drops_formats_no_longer_built(root):
    folder = root / "images/deployable/amd64/generic/1"
    folder.mkdir(parents=True)
    images = {}
    for fmt in ("raw", "gz", "zst"):
        images[fmt] = folder / formats.filename(fmt)
        images[fmt].write_bytes(PAYLOADS[fmt])
    first = bootresources.boot_resource_register_deployable(
        images, os_name="metal-test", series="1", title="Test OS")
    again = bootresources.boot_resource_register_deployable(
        {"raw": images["raw"], "gz": images["gz"]}, os_name="metal-test", series="1")
    assert first.pk == again.pk and (again.kind, again.name) == ("deployable", "metal-test/1")
    assert sorted(again.files.values_list("format", flat=True)) == ["gz", "raw"]
    assert {entry.path: entry.sha256 for entry in boot_files()} == {
        "images/deployable/amd64/generic/1/root.img": _sha(PAYLOADS["raw"]),
        "images/deployable/amd64/generic/1/root.img.gz": _sha(PAYLOADS["gz"])}
