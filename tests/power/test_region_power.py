"""Region side of power: parameter validation, encryption at rest, dispatch and results."""
import logging

import pytest
from django.db import connection

from nodes.choices import EventLevel, NodeStatus, PowerState
from nodes.models import Event, Machine
from nodes.services import actions
from power.models import BMC
from power.services.results import power_failure_record, power_result_record
from rack_worker.client import RackInfo, choose_rack_queue, redacted
from tests.factories import MachineFactory, RackControllerFactory, SubnetFactory

pytestmark = pytest.mark.django_db
IPMI = {"power_address": "10.5.0.21", "power_user": "admin", "power_pass": "s3cr3t-pw"}


@pytest.fixture
def sent(monkeypatch):
    """Capture messages handed to the broker by rack_worker.client (use a transactional db)."""
    messages = []

    def send_task(name, args=None, kwargs=None, queue=None, **options):
        messages.append({"name": name, "args": args, "queue": queue, **options})

    monkeypatch.setattr("rack_worker.client.current_app.send_task", send_task)
    return messages


def create(client, **body):
    return client.post("/api/v1/machines/", {"hostname": "bmc-node", **body}, format="json")


def test_power_types_lists_drivers_with_schemas(user_client):
    body = user_client.get("/api/v1/power-types/").json()
    names = {driver["name"] for driver in body}
    assert {"ipmi", "redfish", "webhook", "manual", "fake"} <= names
    ipmi = next(d for d in body if d["name"] == "ipmi")
    fields = {f["name"]: f for f in ipmi["fields"]}
    assert fields["power_pass"]["secret"] and fields["power_pass"]["type"] == "password"
    assert fields["cipher_suite"]["default"] == "3"


def test_parameters_are_validated_against_the_schema(admin_client):
    response = create(admin_client, power_type="ipmi", power_parameters={"power_user": "x"})
    assert response.status_code == 400
    assert "power_address" in response.json()["power_parameters"]
    response = create(admin_client, power_type="ipmi",
                      power_parameters={**IPMI, "bogus": 1, "power_port": "abc"})
    errors = response.json()["power_parameters"]
    assert set(errors) == {"bogus", "power_port"}
    response = create(admin_client, power_type="carrier-pigeon")
    assert response.status_code == 400 and "power_type" in response.json()
    assert not Machine.objects.filter(hostname="bmc-node").exists()
    assert BMC.objects.count() == 0


def test_secrets_are_encrypted_at_rest_and_never_returned(admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = create(admin_client, power_type="ipmi", power_parameters=IPMI)
    assert response.status_code == 201, response.content
    system_id = response.json()["system_id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT power_parameters FROM power_bmc")
        raw = str(cursor.fetchall())
    assert "s3cr3t-pw" not in raw and "fernet:" in raw
    bodies = [
        admin_client.get(f"/api/v1/machines/{system_id}/").content,
        admin_client.get("/api/v1/machines/").content,
        admin_client.get(f"/api/v1/machines/{system_id}/power-parameters/").content,
        admin_client.get("/api/v1/events/").content,
    ]
    assert all(b"s3cr3t-pw" not in body for body in bodies)
    shown = admin_client.get(f"/api/v1/machines/{system_id}/power-parameters/").json()
    assert shown["power_parameters"]["power_address"] == "10.5.0.21"
    assert "power_pass" not in shown["power_parameters"]
    assert "s3cr3t-pw" not in caplog.text


def test_omitted_secret_is_kept_on_update_and_bmc_is_shared(admin_client):
    first = create(admin_client, power_type="ipmi", power_parameters=IPMI).json()["system_id"]
    second = create(admin_client, hostname="blade-2", power_type="ipmi",
                    power_parameters=IPMI).json()["system_id"]
    assert BMC.objects.count() == 1
    patch = admin_client.patch(f"/api/v1/machines/{first}/", {
        "power_parameters": {"power_address": "10.5.0.21", "power_user": "root"}}, format="json")
    assert patch.status_code == 200, patch.content
    from power.services.parameters import machine_power_parameters

    machine = Machine.objects.get(system_id=first)
    assert machine_power_parameters(machine, reveal=True)["power_pass"] == "s3cr3t-pw"
    assert Machine.objects.get(system_id=second).bmc_id == machine.bmc_id


def test_users_cannot_read_power_parameters(user_client):
    machine = MachineFactory()
    url = f"/api/v1/machines/{machine.system_id}/power-parameters/"
    assert user_client.get(url).status_code == 403


def test_rack_choice_prefers_the_bmc_subnet():
    near, far = RackInfo("near", ("10.5.0.0/24",)), RackInfo("far", ("192.0.2.0/24",))
    assert choose_rack_queue("10.5.0.21", [far, near]) == "rack.near"
    assert choose_rack_queue("bmc.example", [far]) == "rack.far"
    assert choose_rack_queue("10.5.0.21", []) is None


@pytest.mark.django_db(transaction=True)
def test_power_on_goes_to_a_healthy_rack_with_secrets_out_of_the_log_repr(admin, sent):
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
    assert request["params"]["power_pass"] == "s3cr3t-pw"  # the rack needs it to log in
    assert "s3cr3t-pw" not in message["argsrepr"]
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


def test_redacted_hides_only_declared_secrets():
    request = {"params": {"power_pass": "x", "power_user": "u"}, "secret_fields": ["power_pass"]}
    assert redacted(request)["params"] == {"power_pass": "***", "power_user": "u"}
