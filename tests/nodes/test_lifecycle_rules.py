"""Lifecycle rules beyond the table: deadlines, previous status, lock, release, outcomes."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.choices import NodeStatus as S
from nodes.lifecycle import ACTIONS, ALLOWED_WHEN_LOCKED, allowed_actions
from nodes.models import Machine
from nodes.services import actions
from nodes.services.errors import ActionNotAllowed
from nodes.services.lifecycle import machine_finish
from tests.factories import MachineFactory, commissioning_passed
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db


def test_in_progress_status_gets_deadline_and_resting_clears_it(admin, settings):
    settings.MACHINE_STATUS_TIMEOUT = 1800
    machine = MachineFactory(status=S.READY)
    actions.machine_commission(machine.system_id, admin)
    machine.refresh_from_db()
    remaining = machine.status_expires - timezone.now()
    assert timedelta(minutes=29) < remaining <= timedelta(minutes=30)
    machine_finish(machine.system_id, success=True)
    machine.refresh_from_db()
    assert machine.status == S.READY and machine.status_expires is None


def test_releasing_deadline_is_shorter(admin, settings):
    settings.MACHINE_RELEASING_TIMEOUT = 300
    machine = MachineFactory(status=S.DEPLOYED, owner=admin, power_type="ipmi")
    actions.machine_release(machine.system_id, admin)
    machine.refresh_from_db()
    assert machine.status == S.RELEASING
    assert machine.status_expires - timezone.now() <= timedelta(minutes=5)


def test_manual_power_release_is_ready_at_once_and_clears_owner(admin):
    machine = MachineFactory(status=S.DEPLOYED, owner=admin, power_type="manual",
                             user_data="#cloud-config", osystem="debian")
    actions.machine_release(machine.system_id, admin)
    machine.refresh_from_db()
    assert machine.status == S.READY
    assert machine.owner is None and machine.user_data == "" and machine.osystem == ""


def test_release_with_erase_goes_to_disk_erasing_then_ready(admin):
    machine = MachineFactory(status=S.DEPLOYED, owner=admin)
    actions.machine_release(machine.system_id, admin, erase=True)
    machine.refresh_from_db()
    assert machine.status == S.DISK_ERASING
    machine_finish(machine.system_id, success=True)
    machine.refresh_from_db()
    assert machine.status == S.READY and machine.owner is None


@pytest.mark.parametrize(
    "status,success,expected",
    [
        (S.COMMISSIONING, True, S.READY), (S.COMMISSIONING, False, S.FAILED_COMMISSIONING),
        (S.DEPLOYING, True, S.DEPLOYED), (S.DEPLOYING, False, S.FAILED_DEPLOYMENT),
        (S.RELEASING, True, S.READY), (S.RELEASING, False, S.FAILED_RELEASING),
        (S.DISK_ERASING, False, S.FAILED_DISK_ERASING),
        (S.ENTERING_RESCUE_MODE, True, S.RESCUE_MODE),
        (S.ENTERING_RESCUE_MODE, False, S.FAILED_ENTERING_RESCUE_MODE),
        (S.EXITING_RESCUE_MODE, False, S.FAILED_EXITING_RESCUE_MODE),
        (S.TESTING, False, S.FAILED_TESTING),
    ],
)
def test_each_in_progress_status_has_its_outcomes(status, success, expected):
    machine = MachineFactory(status=status, previous_status=S.READY)
    machine_finish(machine.system_id, success=success, reason="boom")
    machine.refresh_from_db()
    assert machine.status == expected
    assert machine.error_description == ("" if success else "boom")


def test_exit_rescue_returns_to_status_before_rescue(admin):
    machine = MachineFactory(status=S.DEPLOYED, owner=admin)
    actions.machine_rescue_mode(machine.system_id, admin)
    machine_finish(machine.system_id, success=True)
    actions.machine_exit_rescue_mode(machine.system_id, admin)
    machine_finish(machine.system_id, success=True)
    machine.refresh_from_db()
    assert machine.status == S.DEPLOYED


def test_testing_success_returns_to_deployed_or_ready(admin):
    deployed = MachineFactory(status=S.DEPLOYED, owner=admin)
    ready = MachineFactory(status=S.READY)
    for machine in (deployed, ready):
        actions.machine_test(machine.system_id, admin)
        machine_finish(machine.system_id, success=True)
    deployed.refresh_from_db()
    ready.refresh_from_db()
    assert (deployed.status, ready.status) == (S.DEPLOYED, S.READY)


@pytest.mark.parametrize("previous,expected", [(S.DEPLOYED, S.DEPLOYED), (S.READY, S.READY),
                                               (S.COMMISSIONING, S.READY)])
def test_mark_fixed_returns_to_deployed_or_ready(admin, previous, expected):
    machine = commissioning_passed(MachineFactory(status=S.BROKEN, previous_status=previous))
    actions.machine_mark_fixed(machine.system_id, admin)
    machine.refresh_from_db()
    assert machine.status == expected


def test_mark_broken_keeps_description(admin):
    machine = MachineFactory(status=S.READY)
    actions.machine_mark_broken(machine.system_id, admin, description="PSU dead")
    machine.refresh_from_db()
    assert (machine.status, machine.error_description) == (S.BROKEN, "PSU dead")
    assert machine.previous_status == S.READY


def test_deploy_of_ready_machine_allocates_it_and_abort_returns_to_allocated(user):
    machine = MachineFactory(status=S.READY)
    deployable_resource()
    # A user deploys a Ready machine: it becomes theirs (MAAS allocates first).
    actions.machine_deploy(machine.system_id, user, user_data="hello")
    machine.refresh_from_db()
    assert (machine.status, machine.owner, machine.user_data) == (S.DEPLOYING, user, "hello")
    actions.machine_abort(machine.system_id, user)
    machine.refresh_from_db()
    assert machine.status == S.ALLOCATED


def test_locked_machine_refuses_all_but_unlock(admin_client, admin):
    machine = MachineFactory(status=S.DEPLOYED, owner=admin)
    assert admin_client.post(f"/api/v1/machines/{machine.system_id}/lock/").status_code == 200
    assert Machine.objects.get(pk=machine.pk).locked
    for action in ACTIONS:
        if action in ALLOWED_WHEN_LOCKED or action == "allocate":
            continue
        if action == "delete":
            response = admin_client.delete(f"/api/v1/machines/{machine.system_id}/")
        else:
            response = admin_client.post(f"/api/v1/machines/{machine.system_id}/{action}/",
                                         {"zone": "default", "pool": "default"}, format="json")
        assert response.status_code == 409, (action, response.content)
        assert "locked" in response.json()["detail"]
        assert response.json()["allowed_actions"] == ["unlock", "query-power-state"]
    query = admin_client.post(f"/api/v1/machines/{machine.system_id}/query-power-state/")
    assert query.status_code == 200
    unlock = admin_client.post(f"/api/v1/machines/{machine.system_id}/unlock/")
    assert unlock.status_code == 200 and unlock.json()["locked"] is False


def test_unlock_of_unlocked_machine_is_refused(admin):
    machine = MachineFactory(status=S.DEPLOYED)
    with pytest.raises(ActionNotAllowed):
        actions.machine_unlock(machine.system_id, admin)


def test_allowed_actions_lists_in_table_order():
    assert allowed_actions(S.NEW, locked=False)[:3] == ["commission", "mark-broken", "retire"]
    assert allowed_actions(S.DEPLOYED, locked=True) == ["unlock", "query-power-state"]


def test_every_action_writes_an_event_naming_the_user(admin):
    machine = MachineFactory(status=S.READY)
    actions.machine_commission(machine.system_id, admin)
    event = machine.events.get(type="commission")
    assert event.user == admin
    assert "Ready → Commissioning" in event.description


def test_finish_of_resting_machine_is_refused():
    machine = MachineFactory(status=S.READY)
    with pytest.raises(ActionNotAllowed):
        machine_finish(machine.system_id, success=True)
