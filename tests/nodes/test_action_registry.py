"""Every action of the lifecycle table has one transition, service, endpoint and permission rule."""
import inspect

import pytest
from django.urls import resolve

from nodes.admin import MachineAdmin
from nodes.api.allocation import AllocateView
from nodes.api.machine_actions import MachineActionsMixin
from nodes.api.views import MachineViewSet
from nodes.lifecycle import ACTIONS, ADMIN, OWNER, OWNER_OR_UNOWNED, UNCHANGED
from nodes.models import Machine
from nodes.models.machine import TRANSITIONS
from nodes.services.action_registry import ACTION_SERVICES

# Actions served by their own route rather than POST /machines/{system_id}/<action>/.
OWN_ROUTES = {"allocate", "delete"}
ENDPOINT_ACTIONS = sorted(set(ACTIONS) - OWN_ROUTES)


def python_name(action: str) -> str:
    return action.replace("-", "_")


def test_every_status_changing_action_has_one_transition_named_after_it():
    changing = {action for action, rule in ACTIONS.items() if rule.target != UNCHANGED}
    assert set(TRANSITIONS) == changing
    for action, method in TRANSITIONS.items():
        assert vars(Machine)[python_name(action)] is method


def test_the_model_has_no_other_transitions():
    found = Machine._meta.get_field("status").transitions[Machine]
    assert set(found) == {python_name(action) for action in TRANSITIONS} | {"complete", "fail"}


def test_every_action_has_one_service_in_table_order():
    assert list(ACTION_SERVICES) == list(ACTIONS)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_service_is_named_after_its_action(action):
    assert ACTION_SERVICES[action].service.__name__ == f"machine_{python_name(action)}"


def test_admin_offers_the_registry_admin_actions_in_table_order():
    admin_actions = [name for name, entry in ACTION_SERVICES.items() if entry.admin]
    assert [run.__name__ for run in MachineAdmin.actions] == [
        f"action_{python_name(name)}" for name in admin_actions
    ]
    for name in admin_actions:  # the admin calls them with the system_id and the user alone
        inspect.signature(ACTION_SERVICES[name].service).bind("abc123", None)


def test_every_action_but_allocate_and_delete_has_one_endpoint():
    endpoints = [
        view.lifecycle_action for view in vars(MachineActionsMixin).values()
        if hasattr(view, "lifecycle_action")
    ]
    assert sorted(endpoints) == ENDPOINT_ACTIONS
    paths = {extra.url_path for extra in MachineViewSet.get_extra_actions()}
    assert paths - {"power-parameters", "storage-layout"} == set(ENDPOINT_ACTIONS)


@pytest.mark.parametrize("action", ENDPOINT_ACTIONS)
def test_endpoint_is_posted_to_the_action_path(action):
    match = resolve(f"/api/v1/machines/abc123/{action}/")
    assert match.url_name == f"machine-{action}"
    assert match.func.actions == {"post": python_name(action)}


def test_allocate_and_delete_have_their_own_routes():
    assert resolve("/api/v1/machines/allocate/").func.view_class is AllocateView
    assert resolve("/api/v1/machines/abc123/").func.actions["delete"] == "destroy"


def test_every_action_says_who_may_run_it():
    assert {rule.who for rule in ACTIONS.values()} <= {ADMIN, OWNER, OWNER_OR_UNOWNED}
