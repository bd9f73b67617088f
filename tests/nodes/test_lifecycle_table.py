"""Every (status, action) pair of the lifecycle, through the API, against a spec written here.

The spec below is written independently of nodes/lifecycle.py: it lists, for each action,
the statuses it is allowed from and where it leads. Every other pair must answer 409 naming
the current status and the allowed actions.
"""
import pytest

from nodes.choices import NodeStatus as S
from nodes.lifecycle import ACTIONS
from nodes.models import Machine
from tests.factories import (
    MachineFactory,
    ResourcePoolFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    ZoneFactory,
    commissioning_passed,
)
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db

ALL = set(S)
FAILED = {S.FAILED_COMMISSIONING, S.FAILED_DEPLOYMENT, S.FAILED_RELEASING,
          S.FAILED_DISK_ERASING, S.FAILED_ENTERING_RESCUE_MODE,
          S.FAILED_EXITING_RESCUE_MODE, S.FAILED_TESTING}
IN_PROGRESS = {S.COMMISSIONING, S.TESTING, S.DEPLOYING, S.RELEASING, S.DISK_ERASING,
               S.ENTERING_RESCUE_MODE, S.EXITING_RESCUE_MODE}

# What each machine in the matrix was doing before its current status (abort/exit return there).
PREVIOUS = {
    S.COMMISSIONING: S.READY, S.TESTING: S.DEPLOYED, S.DEPLOYING: S.ALLOCATED,
    S.DISK_ERASING: S.DEPLOYED, S.BROKEN: S.DEPLOYED, S.RESCUE_MODE: S.DEPLOYED,
    S.ENTERING_RESCUE_MODE: S.DEPLOYED, S.EXITING_RESCUE_MODE: S.DEPLOYED,
    S.FAILED_ENTERING_RESCUE_MODE: S.DEPLOYED, S.FAILED_EXITING_RESCUE_MODE: S.DEPLOYED,
    S.FAILED_TESTING: S.READY,
}


def to(target, sources):
    return {source: target for source in sources}


def stay(sources):
    return {source: source for source in sources}


SPEC = {
    "commission": to(S.COMMISSIONING, {S.NEW, S.READY, S.BROKEN, S.MISSING, S.RETIRED,
                                       S.FAILED_COMMISSIONING, S.FAILED_TESTING,
                                       S.FAILED_DISK_ERASING}),
    "test": to(S.TESTING, {S.READY, S.DEPLOYED, S.BROKEN, S.FAILED_TESTING}),
    "abort": {S.COMMISSIONING: S.READY, S.TESTING: S.DEPLOYED, S.DEPLOYING: S.ALLOCATED,
              S.DISK_ERASING: S.FAILED_DISK_ERASING},
    "deploy": to(S.DEPLOYING, {S.READY, S.ALLOCATED}),
    "release": to(S.RELEASING, {S.ALLOCATED, S.RESERVED, S.DEPLOYED, S.FAILED_DEPLOYMENT,
                                S.FAILED_RELEASING, S.FAILED_DISK_ERASING,
                                S.FAILED_ENTERING_RESCUE_MODE, S.FAILED_EXITING_RESCUE_MODE}),
    "mark-broken": to(S.BROKEN, ALL - {S.BROKEN, S.RETIRED}),
    "mark-fixed": {S.BROKEN: S.DEPLOYED},
    "lock": stay({S.DEPLOYED}),
    "unlock": {},  # only for locked machines: see test_locked_machine_refuses_all_but_unlock
    "rescue-mode": to(S.ENTERING_RESCUE_MODE, {S.READY, S.ALLOCATED, S.DEPLOYED, S.BROKEN,
                                               S.FAILED_COMMISSIONING, S.FAILED_DEPLOYMENT,
                                               S.FAILED_TESTING, S.FAILED_RELEASING,
                                               S.FAILED_DISK_ERASING}),
    "exit-rescue-mode": to(S.EXITING_RESCUE_MODE, {S.RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE,
                                                   S.FAILED_EXITING_RESCUE_MODE}),
    "override-failed-testing": {S.FAILED_TESTING: S.READY},
    "retire": to(S.RETIRED, {S.NEW, S.READY, S.BROKEN, S.MISSING, S.FAILED_COMMISSIONING,
                             S.FAILED_TESTING, S.FAILED_RELEASING, S.FAILED_DISK_ERASING}),
    "set-zone": stay(ALL),
    "set-pool": stay(ALL),
    "power-on": stay(ALL - {S.RETIRED}),
    "power-off": stay(ALL),
    "power-cycle": stay(ALL - {S.RETIRED}),
    "query-power-state": stay(ALL),
    "delete": {status: None for status in ALL - IN_PROGRESS},
    # allocate goes through POST /machines/allocate/ (tests/nodes/test_allocation*.py)
    "allocate": to(S.ALLOCATED, {S.READY}),
}


# Preconditions beyond the status: mark-fixed only once commissioning passed (as MAAS).
REQUIRES = {"mark-fixed": {"commissioning_passed"}}


def test_spec_covers_every_action_of_the_table():
    assert set(SPEC) == set(ACTIONS)


def test_table_matches_spec():
    for action, rule in ACTIONS.items():
        expected_sources = set(SPEC[action]) if action != "unlock" else ALL
        assert set(rule.sources) == expected_sources, action
        assert set(rule.requires) == REQUIRES.get(action, set()), action


def test_there_are_23_statuses_with_maas_codes_and_names():
    assert len(S) == 23
    assert S.FAILED_RELEASING.label == "Releasing failed"
    assert S(18).label == "Failed to enter rescue mode"
    assert [s.value for s in S] == list(range(23))


def _request(client, machine, action):
    if action == "delete":
        return client.delete(f"/api/v1/machines/{machine.system_id}/")
    body = {}
    if action == "set-zone":
        body = {"zone": ZoneFactory().name}
    elif action == "set-pool":
        body = {"pool": ResourcePoolFactory().name}
    elif action == "deploy":
        deployable_resource()  # something to deploy (nodes.services.deploy)
    return client.post(f"/api/v1/machines/{machine.system_id}/{action}/", body, format="json")


API_ACTIONS = [a for a in ACTIONS if a != "allocate"]


@pytest.mark.parametrize("status", list(S), ids=lambda s: s.name)
@pytest.mark.parametrize("action", API_ACTIONS)
def test_every_status_action_pair(admin_client, admin, status, action):
    machine = commissioning_passed(MachineFactory(
        status=status, previous_status=PREVIOUS.get(status), owner=admin, power_type="ipmi"
    ))
    response = _request(admin_client, machine, action)
    expected = SPEC[action]
    if status not in expected:
        assert response.status_code == 409, response.content
        body = response.json()
        assert body["status_name"] == status.label
        assert action not in body["allowed_actions"]
        assert f"it is {status.label}" in body["detail"]
        assert Machine.objects.get(pk=machine.pk).status == status
        return
    assert response.status_code in (200, 204), response.content
    if action == "delete":
        assert not Machine.objects.filter(pk=machine.pk).exists()
        return
    assert response.json()["status"] == expected[status]
    assert response.json()["status_name"] == S(expected[status]).label
    machine.refresh_from_db()
    assert machine.status == expected[status]
    assert machine.events.filter(type=action).exists()


def _fix(client, machine):
    return client.post(f"/api/v1/machines/{machine.system_id}/mark-fixed/")


def test_mark_fixed_needs_a_commissioning_that_passed(admin_client):
    machine = MachineFactory(status=S.NEW)
    assert admin_client.post(f"/api/v1/machines/{machine.system_id}/mark-broken/"
                             ).status_code == 200
    response = _fix(admin_client, machine)
    assert response.status_code == 409, response.content
    assert "commissioning never passed" in response.json()["detail"]
    assert response.json()["status_name"] == "Broken"
    assert Machine.objects.get(pk=machine.pk).status == S.BROKEN
    failed = ScriptSetFactory(machine=machine)  # the latest commissioning failed
    ScriptResultFactory(script_set=failed, status="passed")
    ScriptResultFactory(script_set=failed, status="failed")
    assert _fix(admin_client, machine).status_code == 409
    commissioning_passed(machine)
    response = _fix(admin_client, machine)
    assert response.status_code == 200 and response.json()["status_name"] == "Ready"
