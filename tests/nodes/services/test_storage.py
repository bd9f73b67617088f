"""Choosing a machine's storage layout and boot disk; the deploy's plan and its refusal."""
import pytest
from django.core.exceptions import ValidationError

from maasproject.errors import NotPermitted
from nodes.choices import NodeStatus, ResultType
from nodes.models import Machine, ScriptSet
from nodes.services.actions import machine_deploy
from nodes.services.errors import LinksNotEditable
from nodes.services.storage import machine_set_storage_layout
from nodes.storage_layouts import GIB
from tests.factories import AdminFactory, BlockDeviceFactory, MachineFactory, UserFactory
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def machine(owner):
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=owner, firmware="uefi")
    BlockDeviceFactory(machine=machine, name="sda", size=2 * GIB)
    BlockDeviceFactory(machine=machine, name="sdb", size=100 * GIB)
    return machine


def test_the_owner_chooses_layout_and_boot_disk_by_name_or_id(machine, owner):
    machine_set_storage_layout(machine.system_id, owner, storage_layout="lvm", boot_disk="sdb")
    machine.refresh_from_db()
    assert (machine.storage_layout, machine.boot_disk.name) == ("lvm", "sdb")
    sdb = machine.boot_disk
    machine_set_storage_layout(machine.system_id, owner, storage_layout="flat", boot_disk=sdb.pk)
    machine.refresh_from_db()
    assert (machine.storage_layout, machine.boot_disk_id) == ("flat", sdb.pk)
    assert machine.events.filter(type="storage_layout").count() == 2


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"storage_layout": "bcache"}, "storage_layout", "'bcache' is not a storage layout"),
    ({"storage_layout": "flat", "boot_disk": "sdz"}, "boot_disk", "has no physical disk sdz"),
    ({"storage_layout": "flat", "boot_disk": "sda"}, "boot_disk",
     "sda has 2.0 GiB; the flat layout needs at least 4.5 GiB"),
])
def test_bad_input_is_a_field_error_and_changes_nothing(machine, owner, params, field, message):
    with pytest.raises(ValidationError) as error:
        machine_set_storage_layout(machine.system_id, owner, **params)
    assert message in error.value.message_dict[field][0]
    machine.refresh_from_db()
    assert (machine.storage_layout, machine.boot_disk) == ("flat", None)


def test_only_an_admin_or_the_owner_and_not_once_deploying(machine):
    with pytest.raises(NotPermitted):
        machine_set_storage_layout(machine.system_id, UserFactory(), storage_layout="lvm")
    machine_set_storage_layout(machine.system_id, AdminFactory(), storage_layout="lvm")
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYING)
    with pytest.raises(LinksNotEditable, match="storage layout"):
        machine_set_storage_layout(machine.system_id, AdminFactory(), storage_layout="flat")


def test_a_root_tarball_deploy_carries_the_plan_for_the_boot_disk(machine, owner):
    deployable_resource(image_formats=("tgz",))
    machine_set_storage_layout(machine.system_id, owner, storage_layout="lvm", boot_disk="sdb")
    machine_deploy(machine.system_id, owner)
    options = ScriptSet.objects.get(machine=machine, result_type=ResultType.DEPLOYMENT).options
    assert options["disk"] == "/dev/sdb"
    plan = options["storage"]
    assert (plan["layout"], plan["firmware"], plan["disk"]) == ("lvm", "uefi", "/dev/sdb")
    assert [p["name"] for p in plan["partitions"]] == ["esp", "pv"]


def test_a_deploy_on_a_disk_too_small_is_refused_before_anything_starts(owner):
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=owner)
    BlockDeviceFactory(machine=machine, name="sda", size=3 * GIB)
    deployable_resource(image_formats=("tgz",))
    with pytest.raises(ValidationError, match="No disk large enough: sda has 3.0 GiB"):
        machine_deploy(machine.system_id, owner)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.ALLOCATED
    assert not ScriptSet.objects.filter(machine=machine).exists()


def test_a_disk_image_brings_its_own_partitions(owner):
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=owner)
    BlockDeviceFactory(machine=machine, name="sda", size=3 * GIB)
    deployable_resource(image_formats=("gz",))
    machine_deploy(machine.system_id, owner)
    options = ScriptSet.objects.get(machine=machine, result_type=ResultType.DEPLOYMENT).options
    assert "storage" not in options
