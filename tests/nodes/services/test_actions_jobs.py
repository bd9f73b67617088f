"""Commission and test actions create their script sets and token in one transaction (API)."""
import pytest

from nodes.choices import NodeStatus, ScriptStatus
from nodes.models import Event, MachineToken, ScriptSet
from nodes.selectors.boot import boot_decision
from nodes.services.tokens import token_active
from tests.factories import InterfaceFactory, MachineFactory, ScriptFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/machines/"


@pytest.fixture
def scripts():
    ScriptFactory(name="user-commissioning", script_type="commissioning")
    ScriptFactory(name="stress", script_type="testing", tags=["cpu"])
    ScriptFactory(name="smart", script_type="testing", tags=["default"])


@pytest.mark.parametrize(("params", "fields"), [
    ({"commissioning_scripts": ["nope"]}, {"commissioning_scripts"}),
    ({"testing_scripts": ["stress", "nope"]}, {"testing_scripts"}),
    ({"commissioning_scripts": "nope", "testing_scripts": "also-nope"},
     {"commissioning_scripts", "testing_scripts"}),
    ({"commissioning_scripts": ["stress"]}, {"commissioning_scripts"}),  # a testing script
])
def test_unknown_scripts_are_field_errors_and_nothing_is_saved(admin_client, scripts, params,
                                                               fields):
    machine = MachineFactory(status=NodeStatus.NEW)
    response = admin_client.post(f"{URL}{machine.system_id}/commission/", params, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) == fields
    assert "Unknown" in str(response.json())
    machine.refresh_from_db()
    assert machine.status == NodeStatus.NEW
    assert not ScriptSet.objects.exists() and not MachineToken.objects.exists()
    assert not Event.objects.filter(machine=machine).exists()


def test_commission_creates_both_jobs_and_the_token(admin_client, scripts, power_requests):
    machine = MachineFactory(status=NodeStatus.READY)
    response = admin_client.post(f"{URL}{machine.system_id}/commission/", {
        "enable_ssh": True, "skip_storage": True,
        "commissioning_scripts": "user-commissioning", "testing_scripts": "cpu"})
    assert response.status_code == 200, response.content
    assert response.json()["status_name"] == "Commissioning"
    assert power_requests == [(machine.system_id, "on")]  # the netboot power on
    commissioning = ScriptSet.objects.get(machine=machine, result_type="commissioning")
    testing = ScriptSet.objects.get(machine=machine, result_type="testing")
    assert commissioning.options == {"enable_ssh": True, "skip_networking": False,
                                     "skip_storage": True}
    names = set(commissioning.results.values_list("script_name", flat=True))
    assert "user-commissioning" in names and "20-block-devices" not in names
    assert list(testing.results.values_list("script_name", flat=True)) == ["stress"]
    assert token_active(machine).purpose == "commissioning"


def test_commission_without_testing_scripts_has_no_testing_job(admin_client):
    machine = MachineFactory(status=NodeStatus.NEW)
    for testing_scripts in (None, "none"):
        body = {} if testing_scripts is None else {"testing_scripts": testing_scripts}
        admin_client.post(f"{URL}{machine.system_id}/commission/", body)
        assert not ScriptSet.objects.filter(machine=machine, result_type="testing").exists()
        admin_client.post(f"{URL}{machine.system_id}/abort/")


def test_recommissioning_replaces_the_token(admin_client):
    machine = MachineFactory(status=NodeStatus.NEW)
    admin_client.post(f"{URL}{machine.system_id}/commission/")
    first = token_active(machine)
    admin_client.post(f"{URL}{machine.system_id}/abort/")
    assert token_active(machine) is None
    admin_client.post(f"{URL}{machine.system_id}/commission/")
    assert token_active(machine) not in (None, first)
    assert MachineToken.objects.filter(machine=machine, revoked__isnull=True).count() == 1


def test_test_action_runs_the_named_or_default_testing_scripts(admin_client, scripts):
    machine = MachineFactory(status=NodeStatus.READY)
    response = admin_client.post(f"{URL}{machine.system_id}/test/", {"testing_scripts": "stress"})
    assert response.status_code == 200
    testing = ScriptSet.objects.get(machine=machine, result_type="testing")
    assert list(testing.results.values_list("script_name", "status")) == [
        ("stress", ScriptStatus.PENDING)]
    assert token_active(machine).purpose == "testing"
    other = MachineFactory(status=NodeStatus.READY)
    admin_client.post(f"{URL}{other.system_id}/test/")
    assert list(ScriptSet.objects.get(machine=other).results.values_list(
        "script_name", flat=True)) == ["smart"]
    bad = MachineFactory(status=NodeStatus.READY)
    response = admin_client.post(f"{URL}{bad.system_id}/test/", {"testing_scripts": "nope"})
    assert response.status_code == 400 and "testing_scripts" in response.json()
    bad.refresh_from_db()
    assert bad.status == NodeStatus.READY and token_active(bad) is None


def test_boot_decision_carries_the_token_only_while_a_job_runs(admin_client, settings):
    settings.REGION_URL = "http://region:5240/"
    machine = MachineFactory(status=NodeStatus.NEW)
    mac = InterfaceFactory(machine=machine).mac_address
    admin_client.post(f"{URL}{machine.system_id}/commission/")
    params = boot_decision(mac)["kernel_params"]
    assert params == (f"console=ttyS0 metal.region=http://region:5240/ "
                      f"metal.system_id={machine.system_id} "
                      f"metal.token={token_active(machine).key}")
    admin_client.post(f"{URL}{machine.system_id}/abort/")
    assert "metal.token" not in boot_decision(mac)["kernel_params"]
    decision_events = Event.objects.filter(machine=machine).values_list("description", flat=True)
    assert not any("metal.token" in text for text in decision_events)


def test_abort_says_why_in_its_event(admin_client):
    """MAAS's abort takes a comment: the operator's reason goes on the machine's timeline."""
    machine = MachineFactory(status=NodeStatus.NEW)
    admin_client.post(f"{URL}{machine.system_id}/commission/")
    response = admin_client.post(f"{URL}{machine.system_id}/abort/",
                                 {"comment": "the demo lab was stopped"}, format="json")
    assert response.status_code == 200, response.content
    machine.refresh_from_db()
    assert machine.status == NodeStatus.NEW
    event = Event.objects.filter(machine=machine, type="abort").get()
    assert "the demo lab was stopped" in event.description
