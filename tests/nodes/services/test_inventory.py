"""Inventory from built-in results: machine fields, disks, NICs, DMI; never the status."""
import pytest

from nodes.choices import EventLevel, NodeStatus
from nodes.models import BlockDevice, Event, Interface, Machine, Script
from nodes.services.interfaces import (
    interface_create_bond,
    interface_create_bridge,
    interface_create_vlan,
)
from nodes.services.inventory import inventory_apply, inventory_apply_enlistment
from tests.factories import (
    AdminFactory,
    BlockDeviceFactory,
    InterfaceFactory,
    MachineFactory,
    ScriptFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    VLANFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine():
    return MachineFactory(status=NodeStatus.COMMISSIONING, cpu_count=1, memory=1,
                          architecture="amd64/generic")


def apply(machine: Machine, name: str, stdout: str, status: str = "passed") -> None:
    script_set = ScriptSetFactory(machine=machine)
    result = ScriptResultFactory(script_set=script_set, script=Script.objects.get(name=name),
                                 status=status, stdout=stdout.encode())
    inventory_apply(result)
    machine.refresh_from_db()


def test_cpu_and_memory(machine):
    apply(machine, "10-cpu", "cpu_count=16\ncpu_model=EPYC\ncpu_speed=3200\narch=arm64\n")
    apply(machine, "10-memory", "memory_mib=65536\n")
    assert (machine.cpu_count, machine.cpu_speed, machine.memory) == (16, 3200, 65536)
    assert machine.architecture == "arm64/generic"
    assert machine.status == NodeStatus.COMMISSIONING
    assert Event.objects.filter(machine=machine, type="inventory_cpu",
                                description__contains="EPYC").exists()


def test_only_passed_builtin_results_are_applied(machine):
    apply(machine, "10-memory", "memory_mib=4096\n", status="failed")
    assert machine.memory == 1
    user_script = ScriptFactory(name="mine", script_type="commissioning")
    result = ScriptResultFactory(script=user_script, status="passed", stdout=b"memory_mib=9\n",
                                 script_set=ScriptSetFactory(machine=machine))
    inventory_apply(result)
    machine.refresh_from_db()
    assert machine.memory == 1


def test_malformed_lines_are_a_warning_event_not_a_crash(machine):
    apply(machine, "10-cpu", "cpu_count=4\n\x00\xff garbage\ncpu_speed=fast\n")
    assert machine.cpu_count == 4
    warning = Event.objects.get(machine=machine, type="inventory_warning")
    assert warning.level == EventLevel.WARNING and "10-cpu" in warning.description
    apply(machine, "20-block-devices", "not\tfields\n")
    apply(machine, "20-network", "name=x\tmac=nope\n")
    assert Event.objects.filter(machine=machine, type="inventory_warning").count() == 3


def test_block_devices_replace_stale_ones(machine):
    BlockDeviceFactory(machine=machine, name="sdz")
    keep = BlockDeviceFactory(machine=machine, name="vda", size=1, tags=["boot"])
    apply(machine, "20-block-devices",
          "name=vda\tsize=1000\tblock_size=512\tmodel=QEMU HARDDISK\tserial=S1\t"
          "id_path=/dev/disk/by-id/virtio-S1\trotational=1\n"
          "name=nvme0n1\tsize=2000\tblock_size=4096\tmodel=Fast\tserial=S2\tid_path=/x\t"
          "rotational=0\n")
    disks = {d.name: d for d in BlockDevice.objects.filter(machine=machine)}
    assert set(disks) == {"vda", "nvme0n1"}
    assert disks["vda"].pk == keep.pk and disks["vda"].size == 1000
    assert disks["vda"].tags == ["boot", "rotary"] and disks["nvme0n1"].tags == ["ssd"]
    assert (disks["nvme0n1"].block_size, disks["vda"].model) == (4096, "QEMU HARDDISK")


def test_network_matches_by_mac_and_keeps_the_boot_interface(machine):
    boot = InterfaceFactory(machine=machine, name="eth0", mac_address="52:54:00:00:00:01")
    InterfaceFactory(machine=machine, name="eth1", mac_address="52:54:00:00:00:02")
    stale = InterfaceFactory(machine=machine, name="eth2", mac_address="52:54:00:00:00:09")
    output = ("name=eth1\tmac=52:54:00:00:00:01\tdriver=virtio_net\tspeed=1000\tlink=up\n"
              "name=eth0\tmac=52:54:00:00:00:02\tdriver=virtio_net\tspeed=0\tlink=down\n"
              "name=ens5\tmac=52:54:00:00:00:03\tdriver=e1000\tspeed=10000\tlink=up\n")
    apply(machine, "20-network", output)
    apply(machine, "20-network", output)  # twice: no duplicates
    rows = {i.mac_address: i for i in Interface.objects.filter(machine=machine)}
    assert set(rows) == {"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"}
    assert rows["52:54:00:00:00:01"].pk == boot.pk and rows["52:54:00:00:00:01"].name == "eth1"
    assert rows["52:54:00:00:00:02"].name == "eth0"
    assert rows["52:54:00:00:00:03"].link_speed == 10000
    assert not Interface.objects.filter(pk=stale.pk).exists()
    apply(machine, "20-network", "name=ens5\tmac=52:54:00:00:00:03\tspeed=0\tlink=up\n")
    names = dict(Interface.objects.filter(machine=machine).values_list("mac_address", "name"))
    assert names == {"52:54:00:00:00:01": "eth1", "52:54:00:00:00:03": "ens5"}


def test_network_replaces_physical_interfaces_only_and_drops_the_parentless(machine):
    admin, untagged = AdminFactory(), VLANFactory(vid=0)
    nics = [InterfaceFactory(machine=machine, name=f"eth{index}", vlan=untagged,
                             mac_address=f"52:54:00:00:01:0{index}") for index in range(3)]
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.READY)
    bond = interface_create_bond(machine.pk, admin, parents=[nics[1].pk, nics[2].pk])
    interface_create_bridge(machine.pk, admin, parent=[bond.pk])
    interface_create_vlan(machine.pk, admin, parent=[nics[0].pk],
                          vlan=VLANFactory(fabric=untagged.fabric, vid=100))
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.COMMISSIONING)
    for _ in range(2):  # eth2 is gone; twice: nothing doubles
        apply(machine, "20-network", "name=eth0\tmac=52:54:00:00:01:00\tspeed=0\tlink=up\n"
                                     "name=eth1\tmac=52:54:00:00:01:01\tspeed=0\tlink=up\n")
    rows = dict(Interface.objects.filter(machine=machine).values_list("name", "type"))
    assert rows == {"eth0": "physical", "eth1": "physical", "bond0": "bond", "br0": "bridge",
                    "eth0.100": "vlan"}
    assert [p.name for p in Interface.objects.get(name="bond0").parents.all()] == ["eth1"]
    apply(machine, "20-network", "name=eth0\tmac=52:54:00:00:01:00\tspeed=0\tlink=up\n")
    rows = dict(Interface.objects.filter(machine=machine).values_list("name", "type"))
    assert rows == {"eth0": "physical", "eth0.100": "vlan"}  # bond0 and br0 went with eth1


def test_network_never_takes_another_machines_mac(machine):
    other = InterfaceFactory(mac_address="52:54:00:00:00:07")
    apply(machine, "20-network", "name=eth0\tmac=52:54:00:00:00:07\tspeed=0\tlink=up\n")
    assert Interface.objects.get(mac_address="52:54:00:00:00:07").machine_id == other.machine_id
    assert Event.objects.filter(machine=machine, type="inventory_warning").exists()


def test_dmi_tags_virtual_machines_and_bmc_is_recorded(machine):
    apply(machine, "30-dmi", "vendor=QEMU\nproduct=Standard PC (Q35 + ICH9, 2009)\nserial=\n"
                             "bios_vendor=SeaBIOS\n")
    assert list(machine.tags.values_list("name", flat=True)) == ["virtual"]
    assert "vendor=QEMU" in Event.objects.get(machine=machine, type="inventory_dmi").description
    apply(machine, "30-bmc", "bmc=present\tsource=/dev/ipmi0\n")
    assert Event.objects.get(machine=machine, type="inventory_bmc").description == (
        "BMC present (/dev/ipmi0)")
    physical = MachineFactory()
    apply(physical, "30-dmi", "vendor=Dell Inc.\nproduct=PowerEdge R640\n")
    assert not physical.tags.exists()


def test_firmware_and_secure_boot_are_recorded_once_with_an_event(machine):
    apply(machine, "30-firmware", "firmware=uefi\nsecure_boot=on\n")
    assert (machine.firmware, machine.secure_boot) == ("uefi", True)
    apply(machine, "30-firmware", "firmware=uefi\nsecure_boot=on\n")
    assert list(Event.objects.filter(machine=machine, type="inventory_firmware")
                .values_list("description", flat=True)) == ["boots UEFI, Secure Boot on"]
    apply(machine, "30-firmware", "firmware=bios\n")
    assert (machine.firmware, machine.secure_boot) == ("bios", None)
    apply(machine, "30-firmware", "firmware=coreboot\n")  # malformed: a warning, kept
    assert machine.firmware == "bios"
    assert Event.objects.filter(machine=machine, type="inventory_warning").exists()


def test_enlistment_inventory():
    machine = MachineFactory(cpu_count=0, memory=0)
    InterfaceFactory(machine=machine, name="eth0", mac_address="52:54:00:00:01:01")
    taken = InterfaceFactory(mac_address="52:54:00:00:01:09")
    inventory_apply_enlistment(machine, {
        "arch": ["amd64"], "cpu_count": ["4"], "memory_mib": ["2048"],
        "mac": ["52:54:00:00:01:01", "52-54-00-00-01-02", "junk", taken.mac_address],
    })
    machine.refresh_from_db()
    assert (machine.cpu_count, machine.memory, machine.architecture) == (4, 2048, "amd64/generic")
    macs = dict(machine.interfaces.values_list("mac_address", "name"))
    assert macs == {"52:54:00:00:01:01": "eth0", "52:54:00:00:01:02": "eth1"}
    warning = Event.objects.get(machine=machine, type="inventory_warning").description
    assert "junk" in warning and taken.mac_address in warning
    inventory_apply_enlistment(machine, {"cpu_count": ["many"], "arch": ["arm64/xgene"]})
    machine.refresh_from_db()
    assert (machine.cpu_count, machine.architecture) == (4, "arm64/xgene")


def test_incomplete_output_deletes_nothing(machine):
    InterfaceFactory(machine=machine, name="eth0", mac_address="52:54:00:00:00:01")
    InterfaceFactory(machine=machine, name="eth1", mac_address="52:54:00:00:00:02")
    BlockDeviceFactory(machine=machine, name="sda")
    apply(machine, "20-network", "name=eth1\tmac=52:54:00:00:00:02\tspeed=0\tlink=up\n"
                                 "name=eth0\tmac=52:54:00:00:00:01\tspeed=oops\n")
    assert dict(machine.interfaces.values_list("mac_address", "name")) == {
        "52:54:00:00:00:01": "eth0", "52:54:00:00:00:02": "eth1"}
    apply(machine, "20-block-devices", "name=sdb\tsize=10\nname=sda\tsize=?\n")
    assert sorted(machine.block_devices.values_list("name", flat=True)) == ["sda", "sdb"]


def test_a_database_error_is_a_warning_not_a_crash(machine, monkeypatch):
    from django.db import IntegrityError

    from nodes.services import inventory

    def broken(*args, **kwargs):
        BlockDevice.objects.create(machine=machine, name="half", size=1)
        raise IntegrityError("duplicate key")

    monkeypatch.setitem(inventory.APPLY, "20-block-devices", broken)
    apply(machine, "20-block-devices", "name=sda\tsize=10\n")
    assert not BlockDevice.objects.filter(machine=machine).exists()  # rolled back
    assert "duplicate key" in Event.objects.get(machine=machine,
                                                type="inventory_warning").description
