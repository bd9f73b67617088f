"""POST /api/v1/machines/<id>/storage-layout/: the owner's choice, field errors, 409 later."""
import pytest

from nodes.choices import NodeStatus
from nodes.models import Machine
from nodes.storage_layouts import GIB
from tests.factories import BlockDeviceFactory, MachineFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine(user):
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=user)
    BlockDeviceFactory(machine=machine, name="sda", size=2 * GIB)
    BlockDeviceFactory(machine=machine, name="sdb", size=64 * GIB)
    return machine


def url(machine) -> str:
    return f"/api/v1/machines/{machine.system_id}/storage-layout/"


def test_the_owner_sets_layout_and_boot_disk(user_client, machine):
    response = user_client.post(url(machine), {"storage_layout": "lvm", "boot_disk": "sdb"},
                                format="json")
    assert response.status_code == 200, response.data
    sdb = machine.block_devices.get(name="sdb")
    assert (response.data["storage_layout"], response.data["boot_disk"]) == ("lvm", sdb.pk)
    assert user_client.get(f"/api/v1/machines/{machine.system_id}/").data["boot_disk"] == sdb.pk


@pytest.mark.parametrize(("body", "field"), [
    ({"storage_layout": "zfs"}, "storage_layout"), ({}, "storage_layout"),
    ({"storage_layout": "flat", "boot_disk": "sda"}, "boot_disk"),
    ({"storage_layout": "flat", "boot_disk": "nvme9n1"}, "boot_disk"),
])
def test_bad_input_is_a_400_with_field_errors(user_client, machine, body, field):
    response = user_client.post(url(machine), body, format="json")
    assert response.status_code == 400 and field in response.data, response.data
    machine.refresh_from_db()
    assert (machine.storage_layout, machine.boot_disk) == ("flat", None)


def test_someone_elses_machine_and_a_deploying_one(machine, admin_client):
    from tests.conftest import _client_for  # noqa: PLC0415

    stranger = _client_for(UserFactory())
    assert stranger.post(url(machine), {"storage_layout": "lvm"}).status_code == 404
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYING)
    response = admin_client.post(url(machine), {"storage_layout": "lvm"}, format="json")
    assert response.status_code == 409, response.data
