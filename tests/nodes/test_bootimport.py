"""The boot image import service: one import at a time, its record, stop, and the command."""
import io
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from maasproject.errors import NotPermitted
from nodes.models import BootImport, BootResource
from nodes.services import bootimport
from nodes.services.import_marker import import_marker, import_marker_held
from tests.factories import AdminFactory, UserFactory


@pytest.mark.django_db
def test_import_builds_registers_and_records_the_run(fake_build):
    outcome = bootimport.boot_images_import()
    assert (outcome.state, outcome.resource) == ("done", f"ephemeral/{bootimport.debian_series()}")
    assert BootResource.objects.get(kind="ephemeral").files.count() == 2
    row = BootImport.objects.get()
    assert row.state == "done" and row.started and row.ended and "registered" in row.message
    assert fake_build.calls[0][1] == "generic" and not import_marker_held()


@pytest.mark.django_db
def test_a_failed_build_is_an_outcome_and_the_command_says_so(fake_build):
    fake_build.error = "apt-get download failed: no network"
    assert bootimport.boot_images_import().state == "failed"
    assert BootImport.objects.get().message == "apt-get download failed: no network"
    with pytest.raises(CommandError, match="Import failed: apt-get download failed"):
        call_command("import_boot_images", stdout=io.StringIO())
    assert not BootResource.objects.exists()


@pytest.mark.django_db
def test_no_second_build_while_the_marker_is_held(fake_build):
    with import_marker() as held:
        assert held and import_marker_held() and bootimport.boot_import_running()
        with import_marker() as again:
            assert not again
        assert bootimport.boot_images_import() is None
        with pytest.raises(CommandError, match="already running"):
            call_command("import_boot_images", stdout=io.StringIO())
    assert fake_build.calls == [] and not import_marker_held()


@pytest.mark.django_db
def test_start_and_stop_are_for_admins(fake_build, monkeypatch):
    sent = []
    monkeypatch.setattr(bootimport.current_app, "send_task",
                        lambda name, **options: sent.append((name, options["queue"])))
    with pytest.raises(NotPermitted):
        bootimport.boot_import_start(UserFactory())
    with pytest.raises(NotPermitted):
        bootimport.boot_import_stop(UserFactory())
    admin = AdminFactory()
    assert bootimport.boot_import_start(admin) is True
    assert sent == [("nodes.tasks.import_boot_images", "region")]
    assert bootimport.boot_import_running()  # queued: a worker has not taken it yet
    assert bootimport.boot_import_start(admin) is False and len(sent) == 1
    # Stopped before a worker took it: the worker records it and builds nothing.
    assert bootimport.boot_import_stop(admin) is True
    assert bootimport.boot_images_import().state == "cancelled"
    assert fake_build.calls == [] and not bootimport.boot_import_running()
    assert bootimport.boot_import_stop(admin) is False


@pytest.mark.django_db(transaction=True)
def test_stop_stops_a_running_build_at_its_next_step(fake_build):
    fake_build.gate = threading.Event()
    outcomes = []

    def run():
        try:
            outcomes.append(bootimport.boot_images_import())
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert fake_build.building.wait(10)
        assert bootimport.boot_import_running()
        assert bootimport.boot_import_stop(AdminFactory()) is True
        worker.join(10)
    finally:
        fake_build.gate.set()
        worker.join(10)
    assert outcomes[0].state == "cancelled" and BootImport.objects.get().state == "cancelled"
    assert not BootResource.objects.exists() and not bootimport.boot_import_running()
