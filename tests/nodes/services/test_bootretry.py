"""PXE boot retry: a broken ephemeral kernel or initrd transfer reported by the rack power cycles
a netbooting machine, PXE_BOOT_RETRIES times per job at most."""
import pytest

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event
from nodes.services.events import event_record
from tests.factories import InterfaceFactory, MachineFactory
from tests.zones.rack_helpers import rack_client, register

pytestmark = pytest.mark.django_db
MAC = "52:54:00:12:34:56"
KERNEL = "images/ephemeral/amd64/linux"


def broken(path=KERNEL, error="no progress for 30 s", mac=MAC):
    return {"mac": mac, "type": "http_file", "path": path, "error": error,
            "description": f"HTTP GET {path} aborted after 9098176 of 14186432 bytes: {error}"}


def post(events, capture):
    rack, token = register("r1")
    with capture(execute=True):
        response = rack_client(rack, token).post("/api/v1/rack/events/", {"events": events},
                                                 format="json")
    assert response.status_code == 200, response.content
    return response.json()


def machine_in(status, **fields):
    machine = MachineFactory(status=status, netboot=True, **fields)
    InterfaceFactory(machine=machine, mac_address=MAC)
    event_record(machine=machine, type="job_started", description="commissioning job")
    return machine


def retries(machine):
    return list(Event.objects.filter(machine=machine, type="boot_retry").order_by("id"))


def power_cycles(machine) -> int:
    return Event.objects.filter(machine=machine, type="power_request",
                                description__startswith="Power cycle").count()


@pytest.mark.parametrize("status", [NodeStatus.COMMISSIONING, NodeStatus.DEPLOYING,
                                    NodeStatus.DISK_ERASING, NodeStatus.ENTERING_RESCUE_MODE])
def test_a_broken_kernel_transfer_power_cycles_a_netbooting_machine(
        status, django_capture_on_commit_callbacks):
    machine = machine_in(status)
    assert post([broken()], django_capture_on_commit_callbacks) == {"recorded": 1, "ignored": 0}
    transfer = Event.objects.get(machine=machine, type="http_file")
    assert transfer.level == EventLevel.WARNING and "aborted after 9098176" in transfer.description
    [retry] = retries(machine)
    assert retry.level == EventLevel.WARNING
    assert retry.description == (f"PXE boot retry 1 of 2: the boot loader broke off fetching "
                                 f"{KERNEL} (no progress for 30 s); power cycling")
    assert power_cycles(machine) == 1


def test_retries_stop_at_the_limit_and_start_again_with_the_next_job(
        settings, django_capture_on_commit_callbacks):
    settings.PXE_BOOT_RETRIES = 2
    machine = machine_in(NodeStatus.COMMISSIONING)
    for _ in range(3):
        post([broken(path="images/ephemeral/amd64/initrd.gz")],
             django_capture_on_commit_callbacks)
    assert [e.level for e in retries(machine)] == [EventLevel.WARNING] * 2 + [EventLevel.ERROR]
    assert retries(machine)[-1].description.startswith("No PXE boot retry left (2 used)")
    assert power_cycles(machine) == 2

    event_record(machine=machine, type="job_started", description="testing job")
    post([broken()], django_capture_on_commit_callbacks)
    assert retries(machine)[-1].description.startswith("PXE boot retry 1 of 2")
    assert power_cycles(machine) == 3


@pytest.mark.parametrize(("status", "netboot", "path", "error"), [
    (NodeStatus.DEPLOYING, True, "images/deployable/amd64/generic/1/root.img.gz", "reset"),
    (NodeStatus.DEPLOYING, False, KERNEL, "reset"),  # the deployed OS: boots from its disk
    (NodeStatus.DEPLOYED, False, KERNEL, "reset"),
    (NodeStatus.READY, True, KERNEL, "reset"),
    (NodeStatus.COMMISSIONING, True, KERNEL, ""),  # served in full
])
def test_no_retry_for_other_files_states_or_whole_transfers(
        status, netboot, path, error, django_capture_on_commit_callbacks):
    machine = MachineFactory(status=status, netboot=netboot)
    InterfaceFactory(machine=machine, mac_address=MAC)
    post([broken(path=path, error=error)], django_capture_on_commit_callbacks)
    assert retries(machine) == [] and power_cycles(machine) == 0


def test_retries_can_be_turned_off(settings, django_capture_on_commit_callbacks):
    settings.PXE_BOOT_RETRIES = 0
    machine = machine_in(NodeStatus.COMMISSIONING)
    post([broken()], django_capture_on_commit_callbacks)
    assert [e.level for e in retries(machine)] == [EventLevel.ERROR]
    assert power_cycles(machine) == 0


def test_an_overlong_error_is_a_field_error(django_capture_on_commit_callbacks):
    machine_in(NodeStatus.COMMISSIONING)
    rack, token = register("r1")
    response = rack_client(rack, token).post(
        "/api/v1/rack/events/", {"events": [broken(error="x" * 501)]}, format="json")
    assert response.status_code == 400 and "error" in str(response.json())
    assert not Event.objects.filter(type__in=["http_file", "boot_retry"]).exists()
