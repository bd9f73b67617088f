"""nodes.services.power: power requests sent to racks, and what their results mean for a machine."""
import pytest

from nodes.choices import EventLevel, NodeStatus, PowerState
from nodes.models import Event
from nodes.services import actions
from nodes.services.power import power_failure_record, power_result_record
from rack_worker.sealing import unseal
from tests.factories import MachineFactory, RackControllerFactory, SubnetFactory
from zones.rackkeys import rack_power_key

pytestmark = pytest.mark.django_db
IPMI = {"power_address": "10.5.0.21", "power_user": "admin", "power_pass": "s3cr3t-pw"}


@pytest.mark.django_db(transaction=True)
def test_power_on_goes_to_a_healthy_rack_with_secrets_sealed_for_it(admin, sent):
    subnet = SubnetFactory(cidr="10.5.0.0/24")
    RackControllerFactory(name="dead", status="dead")
    rack = RackControllerFactory(name="r1", status="running")
    rack.subnets.add(subnet)
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin)
    from power.services.parameters import machine_set_power

    machine_set_power(machine, "ipmi", IPMI)
    machine.save()
    actions.machine_power(machine.system_id, admin, "power-on")
    (message,) = sent
    assert message["queue"] == "rack.r1" and message["name"] == "rack_worker.tasks.power"
    request = message["args"][0]
    assert "s3cr3t-pw" not in repr(request) and "s3cr3t-pw" not in message["argsrepr"]
    # Only r1's key opens them: the rack needs the password to log in to the BMC.
    opened = unseal(request, rack_power_key(rack.system_id, rack.token_hash))
    assert opened["params"]["power_pass"] == "s3cr3t-pw"
    assert request["action"] == "on" and request["address"] == "10.5.0.21"


@pytest.mark.django_db(transaction=True)
def test_no_healthy_rack_fails_the_request_with_an_event(admin, sent):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin, power_type="fake")
    actions.machine_power(machine.system_id, admin, "power-on")
    machine.refresh_from_db()
    assert sent == [] and machine.power_state == PowerState.ERROR
    event = machine.events.get(type="power_error")
    assert event.level == EventLevel.ERROR and "No healthy rack" in event.description


def test_result_records_state_time_and_event():
    machine = MachineFactory(power_type="fake")
    power_result_record(system_id=machine.system_id, action="on", purpose="user", state="on",
                        rack="r1")
    machine.refresh_from_db()
    assert machine.power_state == "on" and machine.power_state_updated is not None
    assert "via r1" in machine.events.get(type="power_on").description


def test_result_notes_become_warning_events():
    """The driver's notes (a fake BMC no simulator runs) reach the timeline as WARNINGs."""
    machine = MachineFactory(power_type="fake")
    power_result_record(system_id=machine.system_id, action="on", purpose="commission",
                        state="on", rack="r1", notes=["no simulator is attached"])
    warning = machine.events.get(type="power_warning")
    assert warning.level == EventLevel.WARNING
    assert warning.description == "Power on via r1: no simulator is attached"


@pytest.mark.django_db(transaction=True)
def test_release_waits_for_power_off_then_is_ready(admin, sent):
    RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin, power_type="fake")
    actions.machine_release(machine.system_id, admin)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.RELEASING
    assert sent[0]["args"][0]["purpose"] == "release"
    power_result_record(system_id=machine.system_id, action="off", purpose="release",
                        state="off")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY and machine.owner is None


@pytest.mark.parametrize("status,purpose,failed", [
    (NodeStatus.RELEASING, "release", NodeStatus.FAILED_RELEASING),
    (NodeStatus.COMMISSIONING, "job", NodeStatus.FAILED_COMMISSIONING),
    (NodeStatus.DEPLOYING, "job", NodeStatus.FAILED_DEPLOYMENT),
])
def test_dead_bmc_fails_the_waiting_step_not_a_stuck_machine(status, purpose, failed):
    machine = MachineFactory(status=status, previous_status=NodeStatus.READY, power_type="fake")
    power_failure_record(system_id=machine.system_id, action="on", purpose=purpose,
                         kind="PowerConnectionError", message="BMC unreachable")
    machine.refresh_from_db()
    assert machine.status == failed and machine.power_state == PowerState.ERROR
    assert "BMC unreachable" in machine.error_description
    assert Event.objects.filter(machine=machine, type="power_error").exists()


def test_user_power_failure_leaves_status_alone():
    machine = MachineFactory(status=NodeStatus.DEPLOYED, power_type="fake")
    power_failure_record(system_id=machine.system_id, action="query", purpose="poll",
                         kind="PowerAuthError", message="bad password")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DEPLOYED and machine.power_state == PowerState.ERROR
