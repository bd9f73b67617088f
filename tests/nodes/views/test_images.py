"""The images page: resources and files, which racks hold them, the import and who starts it."""
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from nodes.models import BootImport, BootResourceFile
from tests.factories import RackControllerFactory
from tests.nodes.bootresource_factories import BootResourceFactory

pytestmark = pytest.mark.django_db
SHA_A, SHA_B, SHA_OLD = "a" * 64, "b" * 64, "c" * 64


def row(html: str, resource: str) -> str:
    match = re.search(rf'<tr data-resource="{re.escape(resource)}">(.*?)</tr>', html, re.S)
    assert match, resource
    return match.group(1)


def holding(html: str, rack: str) -> str:
    match = re.search(rf'<div class="holding" data-rack="{rack}">(.*?)</div>\s*(?=<div class='
                      rf'"holding"|</td>)', html, re.S)
    assert match, rack
    return match.group(1)


def _resource(name: str, files: dict[str, tuple[int, str]], **fields):
    os_name, series = name.split("/")
    resource = BootResourceFactory(name=name, os=os_name, series=series, **fields)
    for path, (size, sha256) in files.items():
        BootResourceFile.objects.create(resource=resource, filetype="kernel", path=path,
                                        size=size, sha256=sha256)
    return resource


@pytest.fixture
def send_task(monkeypatch) -> list:
    """Import requests sent to the broker (none really sent)."""
    sent = []
    monkeypatch.setattr("nodes.services.bootimport.current_app.send_task",
                        lambda name, **kwargs: sent.append(name))
    return sent


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_images_page_requires_login(client):
    for url in ("/images/", "/images/import/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_resources_files_and_rack_holdings(client, user):
    _resource("ubuntu/noble", {"noble/linux": (1000, SHA_A), "noble/initrd": (3000, SHA_B)},
              kind="ephemeral", architecture="amd64/generic")
    RackControllerFactory(name="rack-full", image_sync={
        "state": "synced", "held": {"noble/linux": SHA_A, "noble/initrd": SHA_B}})
    RackControllerFactory(name="rack-part", image_sync={
        "state": "syncing", "held": {"noble/linux": SHA_OLD, "noble/initrd": SHA_B}})
    RackControllerFactory(name="rack-old", image_sync={"state": "synced"})
    client.force_login(user)
    html = client.get("/images/").content.decode()
    assert 'id="images"' in html
    cells = row(html, "ubuntu/noble")
    assert "ubuntu / noble" in cells and "amd64/generic" in cells and "Ephemeral" in cells
    assert "1000 B" in cells and "2.9 KiB" in cells
    assert f'<code class="sha256" title="{SHA_A}">{SHA_A[:12]}…</code>' in cells
    assert f">{SHA_A}<" not in cells
    assert 'class="rack-sync"' in cells
    assert '<span style="width: 100%">' in holding(cells, "rack-full")
    assert "2 of 2 files" in holding(cells, "rack-full")
    part = holding(cells, "rack-part")  # a stale copy of linux does not count
    assert '<span style="width: 75%">' in part and "1 of 2 files" in part
    assert "not reported" in holding(cells, "rack-old")


def test_non_admins_see_no_import_button_and_a_forged_post_starts_nothing(client, user,
                                                                          send_task):
    client.force_login(user)
    assert 'id="start-import"' not in client.get("/images/").content.decode()
    response = client.post("/images/import/", follow=True)
    assert "Only administrators can import boot resources." in response.content.decode()
    assert send_task == [] and not BootImport.objects.filter(state="queued").exists()


def test_an_admin_starts_an_import_with_csrf(csrf_client, admin, send_task):
    csrf_client.force_login(admin)
    html = csrf_client.get("/images/").content.decode()
    assert 'id="start-import"' in html
    assert csrf_client.post("/images/import/").status_code == 403  # no CSRF token
    assert send_task == []
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = csrf_client.post("/images/import/", {"csrfmiddlewaretoken": token}, follow=True)
    assert "Import of boot images started." in response.content.decode()
    assert send_task == ["nodes.tasks.import_boot_images"]
    assert BootImport.objects.get().state == "queued"
    page = csrf_client.get("/images/").content.decode()
    assert 'id="start-import" disabled' in page and "Queued" in page


def test_a_broker_failure_is_an_error_message(client, admin, monkeypatch):
    import kombu.exceptions

    def refuse(name, **kwargs):
        raise kombu.exceptions.OperationalError("down")

    monkeypatch.setattr("nodes.services.bootimport.current_app.send_task", refuse)
    client.force_login(admin)
    response = client.post("/images/import/", follow=True)
    assert "Message broker unavailable" in response.content.decode()
    assert not BootImport.objects.filter(state="queued").exists()


def _import_section(client) -> str:
    html = client.get("/images/").content.decode()
    return re.search(r'<section class="card[^"]*" id="import"(.*?)</section>', html, re.S).group(1)


def test_import_progress_and_state(client, user):
    client.force_login(user)
    assert "Never run" in _import_section(client)
    BootImport.objects.create(pk=1, state="done", message="registered boot resource x")
    done = _import_section(client)
    assert "Done" in done and '<span style="width: 100%">' in done and "registered" in done
    BootImport.objects.filter(pk=1).update(state="running",
                                           message="  linux-image: 10/40 bytes (25%)")
    running = _import_section(client)  # no worker holds the marker in this test
    assert '<span style="width: 25%">' in running and "stalled" in running
    BootImport.objects.filter(pk=1).update(state="failed", message="apt failed")
    failed = _import_section(client)
    assert "status-failed" in failed and "Failed" in failed and "apt failed" in failed


def _count_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/images/").status_code == 200
    return len(queries)


def test_images_page_queries_do_not_grow(client, admin):
    client.force_login(admin)

    def make(n: int) -> None:
        _resource(f"ubuntu/s{n}", {f"s{n}/linux": (10, SHA_A), f"s{n}/initrd": (20, SHA_B)})
        RackControllerFactory(name=f"rack{n}", image_sync={"held": {f"s{n}/linux": SHA_A}})

    for n in range(10):
        make(n)
    ten = _count_queries(client)
    for n in range(10, 50):
        make(n)
    assert _count_queries(client) == ten
