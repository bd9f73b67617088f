"""Redfish chassis: discovery against sushy-tools (4 systems), and adding the chassis through
the region's service and the rack's task: machines with working power, once each."""
import pytest

from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from power.drivers.base import PowerAuthError, PowerConnectionError
from power.drivers.redfish import RedfishDriver
from power.drivers.redfish_chassis import discover
from power.services.chassis import chassis_add
from power.services.parameters import machine_power_parameters
from rack_worker.tasks import POWER_MAX_RETRIES
from tests.factories import AdminFactory, ZoneFactory
from tests.power.chassis_support import (
    PASSWORD,
    USER,
    chassis_messages,
    make_chassis_rack,
    record,
    run_on_rack,
    sushy,
)
from tests.power.test_redfish_driver import free_port

SYSTEM_IDS = [f"00000000-0000-0000-0000-00000000000{n}" for n in range(1, 5)]


@pytest.fixture(scope="module")
def sushy4():
    """sushy-tools with 4 systems (node1..node4, one NIC each, all off)."""
    with sushy(4) as emulator:
        yield emulator


@pytest.fixture
def chassis_rack(db, tmp_path, monkeypatch):
    return make_chassis_rack(tmp_path, monkeypatch)


def params(url: str, password: str = PASSWORD) -> dict:
    return {"power_address": url, "power_user": USER, "power_pass": password}


# Discovery (rack side) --------------------------------------------------------------------


def test_discover_returns_every_system(sushy4):
    systems = discover(params(sushy4.url))
    assert [s.identifier for s in systems] == SYSTEM_IDS
    assert [s.name for s in systems] == ["node1", "node2", "node3", "node4"]
    assert systems[0].node_parameters == {"node_id": SYSTEM_IDS[0]}
    assert systems[2].macs == ("52:54:00:00:00:03",)
    assert {s.power_state for s in systems} == {"off"}


def test_discover_with_wrong_password_is_refused_without_the_password(sushy4):
    with pytest.raises(PowerAuthError) as caught:
        discover(params(sushy4.url, password="wrong-Secret-42"))
    assert "wrong-Secret-42" not in str(caught.value)
    assert "HTTP 401" in str(caught.value)


def test_discover_unreachable_names_the_address():
    port = free_port()
    with pytest.raises(PowerConnectionError, match=f"127.0.0.1:{port}"):
        discover(params(f"http://127.0.0.1:{port}"))


# Region service + rack task -------------------------------------------------------------


def add_and_discover(sent, monkeypatch, url: str, password: str = PASSWORD, **options):
    admin = options.pop("user", None) or AdminFactory()
    chassis = chassis_add(admin, "redfish", url, USER, password, **options)
    report = run_on_rack(chassis_messages(sent)[-1], monkeypatch)
    return chassis, report, record(report)


@pytest.mark.django_db
def test_adding_the_chassis_creates_four_machines_with_working_power(
        sushy4, chassis_rack, sent, monkeypatch):
    chassis, report, created = add_and_discover(sent, monkeypatch, sushy4.url)
    assert chassis.rack == chassis_rack.name
    assert PASSWORD not in str(sent) and PASSWORD not in str(report)
    machines = list(Machine.objects.filter(system_id__in=created).order_by("hostname"))
    assert [m.hostname for m in machines] == ["node1", "node2", "node3", "node4"]
    assert len({m.bmc_id for m in machines}) == 1  # one BMC record for the chassis
    assert [m.power_parameters for m in machines] == [{"node_id": i} for i in SYSTEM_IDS]
    assert [m.interfaces.get().mac_address for m in machines] == [
        f"52:54:00:00:00:0{n}" for n in range(1, 5)]
    assert {(m.status, m.power_type, m.architecture) for m in machines} == {
        (NodeStatus.NEW, "redfish", "amd64/generic")}
    assert PASSWORD not in str(machines[0].bmc.power_parameters)  # encrypted at rest
    for machine in machines:
        assert RedfishDriver(machine_power_parameters(machine, reveal=True)).power_query() == "off"
    RedfishDriver(machine_power_parameters(machines[1], reveal=True)).power_on()
    assert sushy4.system(SYSTEM_IDS[1])["PowerState"] == "On"
    assert sushy4.system(SYSTEM_IDS[0])["PowerState"] == "Off"
    sushy4.arrange(SYSTEM_IDS[1], power_state="Off")
    event = Event.objects.get(type="chassis_discovered")
    assert "4 systems, 0 already known, 4 added" in event.description


@pytest.mark.django_db
def test_adding_it_again_creates_none(sushy4, chassis_rack, sent, monkeypatch):
    add_and_discover(sent, monkeypatch, sushy4.url)
    _, _, created = add_and_discover(sent, monkeypatch, sushy4.url)
    assert created == []
    assert Machine.objects.count() == 4
    assert "4 already known, 0 added" in Event.objects.filter(
        type="chassis_discovered").first().description


@pytest.mark.django_db
def test_a_report_delivered_twice_adds_nothing_the_second_time(
        sushy4, chassis_rack, sent, monkeypatch):
    _, report, created = add_and_discover(sent, monkeypatch, sushy4.url)
    assert len(created) == 4
    assert record(report) == []
    assert Machine.objects.count() == 4


@pytest.mark.django_db
def test_prefix_filter_zone_and_new_systems_only(sushy4, chassis_rack, sent, monkeypatch):
    zone = ZoneFactory(name="rack-a")
    _, _, first = add_and_discover(sent, monkeypatch, sushy4.url, prefix_filter="node1",
                                   zone="rack-a")
    assert Machine.objects.get(system_id__in=first).hostname == "node1"
    assert Machine.objects.get(system_id__in=first).zone == zone
    _, _, second = add_and_discover(sent, monkeypatch, sushy4.url)
    assert sorted(Machine.objects.filter(system_id__in=second).values_list(
        "hostname", flat=True)) == ["node2", "node3", "node4"]


@pytest.mark.django_db
def test_accept_all_starts_commissioning(sushy4, chassis_rack, sent, monkeypatch):
    _, _, created = add_and_discover(sent, monkeypatch, sushy4.url, accept_all=True)
    machines = Machine.objects.filter(system_id__in=created)
    assert {m.status for m in machines} == {NodeStatus.COMMISSIONING}
    power = [m for m in sent if m["name"] == "rack_worker.tasks.power"]
    assert len(power) == 4 and {m["queue"] for m in power} == {f"rack.{chassis_rack.name}"}


@pytest.mark.django_db
def test_unreachable_chassis_fails_with_an_event_naming_address_and_reason(
        chassis_rack, sent, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    chassis_add(AdminFactory(), "redfish", url, USER, PASSWORD)
    # The last attempt: the earlier ones were retried (tests/power/test_chassis_e2e.py).
    report = run_on_rack(chassis_messages(sent)[-1], monkeypatch, retries=POWER_MAX_RETRIES)
    assert report["kind"] == "PowerConnectionError"
    assert record(report) == []
    event = Event.objects.get(type="chassis_discovery_failed")
    assert url in event.description and "could not be reached" in event.description
    assert Machine.objects.count() == 0


@pytest.mark.django_db
def test_wrong_credentials_are_fatal_after_one_attempt(sushy4, chassis_rack, sent, monkeypatch):
    sushy4.clear()
    _, report, created = add_and_discover(sent, monkeypatch, sushy4.url, password="Wr0ng-pw")
    assert report["kind"] == "PowerAuthError" and report["attempts"] == 1
    assert created == []
    logins = [r for r in sushy4.requests() if r["method"] == "POST"]
    assert len(logins) == 1
    event = Event.objects.get(type="chassis_discovery_failed")
    assert "refused the credentials" in event.description and sushy4.url in event.description
    assert "Wr0ng-pw" not in event.description
