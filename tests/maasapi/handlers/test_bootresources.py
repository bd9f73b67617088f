"""boot-resources/: import (a region task), is_importing (cluster-wide), stop_import, delete."""
import os
import signal
import textwrap
import threading

import pytest
from django.db import connection

from nodes.models import BootResource
from nodes.services import bootimport
from nodes.services.import_marker import import_marker
from nodes.tasks import import_boot_images
from tests.maasapi.conftest import API
from tests.nodes.bootresource_factories import deployable_resource
from tests.processes import start, wait_until

TEXT = "text/plain; charset=utf-8"


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, str]]:
    """The tasks the import sends (name, queue), recorded instead of sent to the broker."""
    calls = []
    monkeypatch.setattr(bootimport.current_app, "send_task",
                        lambda name, **options: calls.append((name, options["queue"])))
    return calls


def is_importing(client) -> bool:
    answer = client.get(API + "boot-resources/", {"op": "is_importing"})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    return answer.json()


@pytest.mark.django_db
def test_import_queues_one_region_task_that_builds_and_registers(maas_admin, maas_user, sent,
                                                                 fake_build):
    assert maas_user.post(API + "boot-resources/?op=import").status_code == 403
    assert sent == [] and not is_importing(maas_admin)
    answer = maas_admin.post(API + "boot-resources/?op=import")
    assert answer.status_code == 200 and answer["Content-Type"] == TEXT
    assert answer.content == b"Import of boot resources started"
    assert sent == [("nodes.tasks.import_boot_images", "region")]
    assert is_importing(maas_user)  # queued: true until a worker ends it
    assert maas_admin.post(API + "boot-resources/?op=import").status_code == 200
    assert len(sent) == 1  # a second import while one is under way starts nothing
    assert import_boot_images() == "done"  # what the region worker runs
    assert not is_importing(maas_user) and len(fake_build.calls) == 1
    listed = maas_user.get(API + "boot-resources/").json()
    # The same import as the command's: the ephemeral image and the UEFI loaders.
    assert [r["name"] for r in listed] == ["bootloader/uefi/amd64",
                                           f"ephemeral/{bootimport.debian_series()}"]


@pytest.mark.django_db(transaction=True)
def test_is_importing_while_an_import_runs_and_stop_import_stops_it(maas_admin, maas_user, sent,
                                                                  fake_build):
    fake_build.gate = threading.Event()
    outcomes = []

    def worker():
        try:
            outcomes.append(bootimport.boot_images_import())
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert fake_build.building.wait(10) and is_importing(maas_user)
        assert maas_admin.post(API + "boot-resources/?op=import").status_code == 200
        assert sent == [] and len(fake_build.calls) == 1
        assert maas_user.post(API + "boot-resources/?op=stop_import").status_code == 403
        stopped = maas_admin.post(API + "boot-resources/?op=stop_import")
        assert stopped.status_code == 200 and stopped["Content-Type"] == TEXT
        assert stopped.content == b"Import of boot resources is being stopped"
        thread.join(10)
    finally:
        fake_build.gate.set()
        thread.join(10)
    assert outcomes[0].state == "cancelled" and not BootResource.objects.exists()
    assert not is_importing(maas_user)


HOLDER = textwrap.dedent("""
    import time
    import django
    django.setup()
    from nodes.services.import_marker import import_marker
    with import_marker() as held:
        print("held" if held else "refused", flush=True)
        time.sleep(120)
""")


@pytest.mark.django_db
def test_is_importing_turns_false_when_the_holder_dies(maas_user, tmp_path):
    log = tmp_path / "holder.log"
    holder = start(["-c", HOLDER], log)
    try:
        wait_until(lambda: "held" in log.read_text(), 30, log.read_text)
        assert is_importing(maas_user)
        with import_marker() as mine:
            assert not mine
        os.killpg(holder.pid, signal.SIGKILL)  # no clean-up runs: as a worker killed mid-build
        holder.wait(10)
        wait_until(lambda: not is_importing(maas_user), 15, lambda: "still importing")
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(10)
    with import_marker() as mine:
        assert mine


@pytest.mark.django_db
def test_delete_is_for_admins_and_answers_204(maas_admin, maas_user):
    resource = deployable_resource(series="noble")
    path = API + f"boot-resources/{resource.id}/"
    assert maas_user.delete(path).status_code == 403
    assert maas_admin.delete(path).status_code == 204
    assert not BootResource.objects.filter(pk=resource.id).exists()
    assert maas_admin.delete(path).status_code == 404
    assert maas_admin.get(path).status_code == 404
