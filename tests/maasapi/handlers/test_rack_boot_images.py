"""rackcontrollers/: list_boot_images (region's resources + the rack's last sync report) and
import_boot_images (MAAS's answer: racks sync on their own)."""
import pytest

from tests.factories import RackControllerFactory
from tests.maasapi.conftest import API
from tests.nodes.bootresource_factories import BootResourceFactory, register_boot_files

pytestmark = pytest.mark.django_db
TEXT = "text/plain; charset=utf-8"


@pytest.fixture
def image(settings, tmp_path):
    """An ephemeral resource with a 6-byte kernel and initrd on the region's disk."""
    settings.BOOT_RESOURCES_DIR = str(tmp_path)
    (tmp_path / "images").mkdir()
    for name in ("linux", "initrd.gz"):
        (tmp_path / "images" / name).write_bytes(b"abcdef")
    resource = BootResourceFactory(os="debian", series="bookworm", kind="ephemeral",
                                   name="ephemeral/bookworm", architecture="amd64/generic")
    register_boot_files({"images/linux": "kernel", "images/initrd.gz": "initrd"}, resource)
    return resource


def report(state: str, files: int = 2, size: int = 12) -> dict:
    return {"state": state, "files_total": files, "files_done": files, "bytes_total": size,
            "bytes_done": size, "error": "", "updated": "2026-12-06T00:00:00+00:00"}


def test_list_boot_images_compares_the_rack_report_with_the_manifest(maas_admin, image):
    rack = RackControllerFactory(status="running", image_sync=report("synced"))
    path = API + f"rackcontrollers/{rack.system_id}/"
    listed = maas_admin.get(path, {"op": "list_boot_images"}).json()
    assert listed == {"images": [{"name": "ephemeral/bookworm", "architecture": "amd64",
                                  "subarches": ["generic"]}],
                      "connected": True, "status": "synced"}
    for sync, status in ((report("synced", files=1, size=6), "out-of-sync"),
                         (report("syncing"), "syncing"), (report("failed"), "out-of-sync"),
                         ({}, "unknown")):
        rack.image_sync = sync
        rack.save()
        assert maas_admin.get(path, {"op": "list_boot_images"}).json()["status"] == status
    rack.status = "dead"
    rack.save()
    assert maas_admin.get(path, {"op": "list_boot_images"}).json()["connected"] is False


def test_list_on_the_collection_gives_every_rack(maas_admin, image):
    racks = [RackControllerFactory(status="running", image_sync=report("synced")),
             RackControllerFactory(status="running")]
    listed = maas_admin.get(API + "rackcontrollers/", {"op": "list_boot_images"}).json()
    assert [(r["system_id"], r["hostname"], r["status"]) for r in listed] == [
        (racks[0].system_id, racks[0].name, "synced"), (racks[1].system_id, racks[1].name,
                                                        "unknown")]


def test_boot_image_operations_are_for_admins(maas_user, maas_admin):
    rack = RackControllerFactory()
    one = API + f"rackcontrollers/{rack.system_id}/"
    for client, status in ((maas_user, 403), (maas_admin, 200)):
        assert client.get(one, {"op": "list_boot_images"}).status_code == status
        assert client.get(API + "rackcontrollers/",
                          {"op": "list_boot_images"}).status_code == status
        assert client.post(one + "?op=import_boot_images").status_code == status
        assert client.post(API + "rackcontrollers/?op=import_boot_images").status_code == status
    assert maas_admin.get(API + "rackcontrollers/nope/",
                          {"op": "list_boot_images"}).status_code == 404


def test_import_boot_images_answers_as_maas(maas_admin):
    rack = RackControllerFactory(name="rack-a")
    one = maas_admin.post(API + f"rackcontrollers/{rack.system_id}/?op=import_boot_images")
    assert one["Content-Type"] == TEXT
    assert one.content == b"Import of boot images started on rack-a"
    every = maas_admin.post(API + "rackcontrollers/?op=import_boot_images")
    assert every.content == b"Import of boot images started on all rack controllers"


def test_a_rack_lists_its_services_with_maas_names_statuses_and_why(maas_admin):
    rack = RackControllerFactory(
        status="degraded", services={"worker": "running", "dhcp": "off", "tftp": "failed",
                                     "http": "starting"},
        service_reasons={"tftp": "cannot listen on UDP 0.0.0.0:69: Address already in use",
                         "dhcp": "turned off on this rack (--no-dhcp)"})
    answer = maas_admin.get(API + f"rackcontrollers/{rack.system_id}/").json()
    assert answer["service_set"] == [
        {"name": "dhcpd", "status": "off", "status_info": "turned off on this rack (--no-dhcp)"},
        {"name": "http", "status": "unknown", "status_info": ""},
        {"name": "tftp", "status": "dead",
         "status_info": "cannot listen on UDP 0.0.0.0:69: Address already in use"},
        {"name": "worker", "status": "running", "status_info": ""}]
