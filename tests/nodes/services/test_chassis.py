"""Recording a chassis discovery: machines for new systems only, one BMC, events; for a virsh
chassis (qemu:///system, an address with no host) as for a Redfish one."""
import pytest

from nodes.models import Event, Machine
from nodes.services.chassis import chassis_outcome_record
from power.services.chassis import chassis_add
from power.services.parameters import machine_power_parameters
from rack_worker.client import CHASSIS_TASK
from tests.factories import AdminFactory, MachineFactory
from tests.power.chassis_support import make_chassis_rack


@pytest.fixture
def chassis_rack(db, tmp_path, monkeypatch):
    return make_chassis_rack(tmp_path, monkeypatch)


def domain(name: str, mac: str = "") -> dict:
    return {"identifier": name, "name": name, "node_parameters": {"power_id": name},
            "macs": [mac] if mac else [], "architecture": "", "power_state": "off"}


def report_for(sent: list[dict], systems: list[dict] | None = None, **failure) -> dict:
    """What the rack would report for the last discovery sent (its own fields, never params)."""
    message = [m for m in sent if m["name"] == CHASSIS_TASK][-1]["args"][0]
    fields = {k: message[k] for k in ("request_id", "chassis_type", "hostname", "context")}
    outcome = {"systems": systems} if systems is not None else failure
    return {**fields, **outcome, "rack": "chassis-rack"}


@pytest.mark.django_db
def test_a_virsh_chassis_adds_each_domain_once(chassis_rack, sent):
    admin = AdminFactory()
    chassis = chassis_add(admin, "virsh", "qemu:///system", "ignored-user", "")
    assert chassis.rack == chassis_rack.name  # no host: any healthy rack
    first = chassis_outcome_record(**report_for(sent, [domain("vm1", "52:54:00:aa:00:01"),
                                                       domain("vm2")]))
    machines = list(Machine.objects.filter(system_id__in=first).order_by("hostname"))
    assert [(m.hostname, m.power_type, m.power_parameters) for m in machines] == [
        ("vm1", "virsh", {"power_id": "vm1"}), ("vm2", "virsh", {"power_id": "vm2"})]
    assert machine_power_parameters(machines[0], reveal=True) == {
        "power_address": "qemu:///system", "power_id": "vm1"}
    assert [i.mac_address for i in machines[0].interfaces.all()] == ["52:54:00:aa:00:01"]

    chassis_add(admin, "virsh", "qemu:///system", "", "")
    again = chassis_outcome_record(**report_for(sent, [domain("vm1"), domain("vm2"),
                                                       domain("vm3")]))
    assert list(Machine.objects.filter(system_id__in=again).values_list("hostname", flat=True)) \
        == ["vm3"]
    assert Machine.objects.count() == 3


@pytest.mark.django_db
def test_taken_names_and_macs_do_not_stop_a_system(chassis_rack, sent):
    taken = MachineFactory(hostname="vm1")
    taken.interfaces.create(name="eth0", mac_address="52:54:00:aa:00:01")
    chassis_add(AdminFactory(), "virsh", "qemu+ssh://root@10.1.1.1/system", "", "pw")
    [system_id] = chassis_outcome_record(**report_for(sent, [domain("VM1", "52:54:00:aa:00:01")]))
    machine = Machine.objects.get(system_id=system_id)
    assert machine.hostname == "vm1-2" and machine.interfaces.count() == 0
    assert machine.bmc.address == "10.1.1.1"


@pytest.mark.django_db
def test_a_failure_is_an_error_event_with_the_reason(chassis_rack, sent):
    chassis_add(AdminFactory(), "virsh", "qemu+ssh://root@10.1.1.1/system", "", "pw")
    chassis_outcome_record(**report_for(
        sent, kind="PowerConnectionError",
        message="libvirt qemu+ssh://root@10.1.1.1/system: Connection refused"))
    event = Event.objects.get(type="chassis_discovery_failed")
    assert event.level == 40 and event.machine is None and event.hostname.startswith("qemu+ssh")
    assert "could not be reached" in event.description
    assert "qemu+ssh://root@10.1.1.1/system" in event.description
