"""lab.sim's fleet against the real region over HTTP (live server), tokens bound to leases.

The test plays the rack's power driver (the same `fake` driver code, on the same state
directory); the fleet plays the machines. METADATA_TOKEN_SOURCES keeps its default, `leases`.
"""
import json
import threading

import pytest

from lab.sim.fleet import Fleet
from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from nodes.services.actions import machine_commission
from power.drivers.fake import FakeDriver, locked_state
from tests.factories import InterfaceFactory, MachineFactory, SubnetFactory
from tests.processes import wait_until
from tests.zones.rack_helpers import register
from zones.choices import LeaseState
from zones.models import DHCPLease

MAC = "02:5a:00:00:00:01"
TIMEOUT = 120


@pytest.fixture
def rack(settings, tmp_path):
    """A rack linked to the loopback subnet (enlistment allowed); its credentials file."""
    assert settings.METADATA_TOKEN_SOURCES == "leases"
    rack, token = register("sim-rack")
    rack.subnets.add(SubnetFactory(cidr="127.0.0.0/8", allow_enlistment=True))
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"system_id": rack.system_id, "token": token}))
    return json.loads(credentials.read_text())


def run_fleet(fleet: Fleet, boots: int) -> dict:
    """Run the fleet in a thread until `boots` boots ended; its summary."""
    summary = {}
    thread = threading.Thread(target=lambda: summary.update(fleet.run(boots, TIMEOUT)))
    thread.start()
    thread.join(TIMEOUT + 30)
    assert not thread.is_alive()
    return summary


@pytest.mark.django_db(transaction=True)
def test_an_unknown_machine_enlists_and_commissions_from_its_leased_address(
        live_server, rack, tmp_path):
    power_dir = str(tmp_path / "fake-power")
    fleet = Fleet(live_server.url, rack, {"sim-01": MAC}, power_dir,
                  addresses={"sim-01": "127.0.99.10"}, self_poweroff=True)
    fleet.attach()
    assert fleet.power_on_new() == ["sim-01"] and fleet.power_on_new() == []

    summary = run_fleet(fleet, 1)
    assert summary["failures"] == [] and summary["http_errors"] == 0, summary
    record = summary["results"][0]
    assert (record["action"], record["jobs"], record["poweroff"]) == \
        ("enlist", ["enlistment", "commissioning"], True)
    machine = Machine.objects.get(interfaces__mac_address=MAC)
    assert machine.status == NodeStatus.READY and machine.cpu_count == 8
    assert DHCPLease.objects.get(mac=MAC).ip == "127.0.99.10"
    assert DHCPLease.objects.get(mac=MAC).state == LeaseState.ACTIVE
    assert Event.objects.get(machine=machine, type="enlisted").description.startswith(
        f"Enlisted from 127.0.99.10 with boot MAC {MAC}")
    with locked_state(power_dir, "sim-01") as bmc:  # it powered itself off (poweroff=1)
        assert (bmc.power_state, bmc.boot_device) == ("off", "disk")


@pytest.mark.django_db(transaction=True)
def test_without_its_lease_a_machine_token_is_refused(live_server, rack, tmp_path,
                                                      monkeypatch):
    """The same boot from 127.0.0.1, which no rack leased to it: the binding holds."""
    machine = MachineFactory(status=NodeStatus.NEW, power_type="fake",
                             power_parameters={"fake_id": "sim-01"})
    InterfaceFactory(machine=machine, mac_address=MAC)
    machine_commission(machine.system_id, None, power_on=False)
    power_dir = str(tmp_path / "fake-power")
    fleet = Fleet(live_server.url, rack, {"sim-01": MAC}, power_dir)
    fleet.attach()
    monkeypatch.setenv("FAKE_POWER_STATE_DIR", power_dir)
    driver = FakeDriver({"fake_id": "sim-01"})
    driver.power_on(netboot=True)  # what the rack's worker does
    assert driver.notes == []  # a simulator is attached and simulates sim-01

    thread = threading.Thread(target=lambda: fleet.run(0, TIMEOUT))
    thread.start()
    try:
        wait_until(lambda: fleet.machines["sim-01.json"].done, TIMEOUT, lambda: "no boot end")
    finally:
        FakeDriver({"fake_id": "sim-01"}).power_off()
        wait_until(lambda: fleet.results, TIMEOUT, lambda: "the boot was not recorded")
        fleet.stopping.set()
        thread.join(TIMEOUT)
    record = fleet.results[0]
    assert record["action"] == "commission" and not record["ok"]
    assert record["http_errors"] == ["GET job/: 401"], record
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.COMMISSIONING
