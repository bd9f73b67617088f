"""The service of every lifecycle action, by its name in the table (nodes.lifecycle.ACTIONS)."""
from collections.abc import Callable
from dataclasses import dataclass

from nodes.services import actions
from nodes.services.allocation import machine_allocate


@dataclass(frozen=True)
class ActionService:
    """The service that runs an action, and whether the Django admin offers it."""

    service: Callable
    # A bulk action of the admin's machine list; its service takes (system_id, user) alone.
    admin: bool = False


# In table order, which is also the admin's order (tests/nodes/test_action_registry checks both).
ACTION_SERVICES: dict[str, ActionService] = {
    "commission": ActionService(actions.machine_commission, admin=True),
    "test": ActionService(actions.machine_test),
    "abort": ActionService(actions.machine_abort, admin=True),
    "allocate": ActionService(machine_allocate),
    "deploy": ActionService(actions.machine_deploy),
    "release": ActionService(actions.machine_release, admin=True),
    "mark-broken": ActionService(actions.machine_mark_broken, admin=True),
    "mark-fixed": ActionService(actions.machine_mark_fixed, admin=True),
    "lock": ActionService(actions.machine_lock, admin=True),
    "unlock": ActionService(actions.machine_unlock, admin=True),
    "rescue-mode": ActionService(actions.machine_rescue_mode),
    "exit-rescue-mode": ActionService(actions.machine_exit_rescue_mode),
    "override-failed-testing": ActionService(actions.machine_override_failed_testing),
    "retire": ActionService(actions.machine_retire),
    "set-zone": ActionService(actions.machine_set_zone),
    "set-pool": ActionService(actions.machine_set_pool),
    "power-on": ActionService(actions.machine_power_on),
    "power-off": ActionService(actions.machine_power_off),
    "power-cycle": ActionService(actions.machine_power_cycle),
    "query-power-state": ActionService(actions.machine_query_power_state),
    "delete": ActionService(actions.machine_delete),
}
