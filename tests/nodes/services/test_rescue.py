"""Rescue mode (the rescue job, its keys, its report, exit) and mark broken on real machines."""
import pytest

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event, Machine
from nodes.selectors.boot import machine_action
from nodes.services import accounts, actions
from nodes.services.power import power_result_record
from nodes.services.tokens import token_active, token_issue
from tests.factories import AdminFactory, MachineFactory, UserFactory, commissioning_passed
from tests.nodes.api.metadata_helpers import API, machine_client
from tests.nodes.api.test_sshkeys import ECDSA, ED25519, ED25519_FINGERPRINT

pytestmark = pytest.mark.django_db
URL = "/api/v1/machines/"
READY = {"status": "ok", "ip": "10.99.0.120", "host_key": ED25519_FINGERPRINT, "keys": 1}


def power_requests(machine) -> list[str]:
    return list(Event.objects.filter(machine=machine, type="power_request")
                .order_by("id").values_list("description", flat=True))


@pytest.fixture
def deployed(user_client):
    owner = user_client.user
    accounts.sshkey_create(owner, ED25519, actor=owner)
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=owner, netboot=False)
    return machine


def enter(client, machine, capture) -> str:
    with capture(execute=True):
        response = client.post(f"{URL}{machine.system_id}/rescue-mode/")
    assert response.status_code == 200, response.content
    assert response.json()["status_name"] == "Entering rescue mode"
    return token_active(machine).key


def test_rescue_mode_round_trip_on_a_deployed_machine(user_client, deployed,
                                                      django_capture_on_commit_callbacks):
    machine, capture = deployed, django_capture_on_commit_callbacks
    key = enter(user_client, machine, capture)
    assert token_active(machine).purpose == "rescue"
    assert machine_action(Machine.objects.get(pk=machine.pk)) == "rescue"
    assert "Power cycle" in power_requests(machine)[-1]  # it may be running its OS

    client = machine_client(machine, key)
    script = client.get(f"{API}job/").content.decode()
    assert script.startswith("#!/bin/sh\n# metal rescue job") and key not in script
    assert "dropbear -r" in script and "public-keys/" in script
    assert client.get(f"{API}job/", HTTP_ACCEPT="application/json").json() == {
        "system_id": machine.system_id, "job": "rescue", "poweroff": False}
    assert client.get(f"{API}public-keys/").content.decode() == ED25519 + "\n"

    response = client.post(f"{API}rescue-ready/", READY)
    assert response.status_code == 200, response.content
    machine.refresh_from_db()
    assert machine.status == NodeStatus.RESCUE_MODE
    event = Event.objects.get(machine=machine, type="rescue_ready")
    assert event.description == (f"Rescue environment up: ssh root@10.99.0.120 (host key "
                                 f"{ED25519_FINGERPRINT}; 1 authorized key(s))")
    # A new token: the keys stay readable and a reboot netboots into rescue again.
    second = token_active(machine).key
    assert second != key and client.get(f"{API}job/").status_code == 401
    again = machine_client(machine, second)
    assert again.get(f"{API}job/").content.decode().startswith("#!/bin/sh\n# metal rescue")
    assert again.post(f"{API}rescue-ready/", READY).status_code == 200
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.RESCUE_MODE

    with capture(execute=True):
        response = user_client.post(f"{URL}{machine.system_id}/exit-rescue-mode/")
    assert response.json()["status_name"] == "Exiting rescue mode"
    assert token_active(machine) is None
    assert "Power cycle" in power_requests(machine)[-1]  # back to its disk
    machine.refresh_from_db()
    assert machine_action(machine) == "local"
    power_result_record(system_id=machine.system_id, action="cycle", purpose="exit-rescue",
                        state="on")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DEPLOYED
    assert machine.owner == user_client.user


def test_rescue_of_an_unowned_machine_uses_the_admins_keys_and_powers_off_on_exit(
        admin_client, django_capture_on_commit_callbacks):
    admin = admin_client.user
    accounts.sshkey_create(admin, ECDSA, actor=admin)
    machine = MachineFactory(status=NodeStatus.READY)
    key = enter(admin_client, machine, django_capture_on_commit_callbacks)
    client = machine_client(machine, key)
    assert client.get(f"{API}public-keys/").content.decode() == ECDSA + "\n"
    client.post(f"{API}rescue-ready/", READY)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.RESCUE_MODE and machine.owner is None
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"{URL}{machine.system_id}/exit-rescue-mode/")
    assert "Power off" in power_requests(machine)[-1]
    power_result_record(system_id=machine.system_id, action="off", purpose="exit-rescue",
                        state="off")
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.READY


def test_no_keys_is_a_warning(user_client, django_capture_on_commit_callbacks):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=user_client.user)
    key = enter(user_client, machine, django_capture_on_commit_callbacks)
    client = machine_client(machine, key)
    assert client.get(f"{API}public-keys/").content == b""
    client.post(f"{API}rescue-ready/", {**READY, "keys": 0})
    event = Event.objects.get(machine=machine, type="rescue_ready")
    assert event.level == EventLevel.WARNING and "nobody can log in" in event.description


def test_rescue_failure_is_failed_to_enter_rescue_mode(user_client, deployed,
                                                       django_capture_on_commit_callbacks):
    key = enter(user_client, deployed, django_capture_on_commit_callbacks)
    response = machine_client(deployed, key).post(
        f"{API}rescue-ready/", {"status": "failed", "message": "dropbear did not start"})
    assert response.status_code == 200
    deployed.refresh_from_db()
    assert deployed.status == NodeStatus.FAILED_ENTERING_RESCUE_MODE
    assert deployed.error_description == "rescue environment failed: dropbear did not start"
    assert token_active(deployed) is None


@pytest.mark.parametrize("body", [{"status": "ok", "ip": "not-an-ip"},
                                  {"status": "ok", "host_key": "md5:aa:bb"},
                                  {"status": "maybe"}])
def test_bad_rescue_reports_are_400(user_client, deployed, body,
                                    django_capture_on_commit_callbacks):
    key = enter(user_client, deployed, django_capture_on_commit_callbacks)
    response = machine_client(deployed, key).post(f"{API}rescue-ready/", body)
    assert response.status_code == 400, response.content
    assert Machine.objects.get(pk=deployed.pk).status == NodeStatus.ENTERING_RESCUE_MODE


def test_rescue_report_needs_a_rescue_job():
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    key = token_issue(machine, "commissioning").key
    response = machine_client(machine, key).post(f"{API}rescue-ready/", READY)
    assert response.status_code == 400


def test_other_users_cannot_rescue(user_client):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=UserFactory())
    assert user_client.post(f"{URL}{machine.system_id}/rescue-mode/").status_code in (403, 404)
    assert token_active(machine) is None


# Mark broken, fixed, lock on machines that run: what MAAS does.

def test_mark_broken_leaves_a_deployed_machine_running_and_mark_fixed_returns_it(
        django_capture_on_commit_callbacks):
    admin = AdminFactory()
    machine = commissioning_passed(
        MachineFactory(status=NodeStatus.DEPLOYED, owner=UserFactory(), power_type="ipmi"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        actions.machine_mark_broken(machine.system_id, admin, description="disk noise")
    assert callbacks == []
    assert not Event.objects.filter(machine=machine, type__startswith="power").exists()
    machine.refresh_from_db()
    assert (machine.status, machine.error_description) == (NodeStatus.BROKEN, "disk noise")
    assert machine.owner is not None
    actions.machine_mark_fixed(machine.system_id, admin)
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.DEPLOYED


def test_mark_broken_mid_job_closes_the_job_and_powers_off(django_capture_on_commit_callbacks):
    machine = MachineFactory(status=NodeStatus.COMMISSIONING, previous_status=NodeStatus.NEW)
    token_issue(machine, "commissioning")
    with django_capture_on_commit_callbacks(execute=True):
        actions.machine_mark_broken(machine.system_id, AdminFactory())
    assert token_active(machine) is None
    assert "Power off" in power_requests(machine)[-1]
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.BROKEN


def test_locked_machine_cannot_be_released_with_erase_nor_rescued(admin_client):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin_client.user, locked=True)
    for action, body in (("release", {"erase": True}), ("rescue-mode", {})):
        response = admin_client.post(f"{URL}{machine.system_id}/{action}/", body)
        assert response.status_code == 409, response.content
    assert token_active(machine) is None
