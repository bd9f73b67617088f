"""Who may run each action, against a spec written here (independently of nodes/lifecycle.py)."""
import pytest
from django.contrib.auth import get_user_model

from maasproject.errors import NotPermitted
from nodes.lifecycle import ACTIONS
from nodes.models import Machine
from nodes.services.permissions import require_action_permission

# Besides admins (and the system, user None): what an owner may do with their machine...
OWNER_ACTIONS = {
    "abort", "allocate", "deploy", "release", "mark-broken", "lock", "unlock", "rescue-mode",
    "exit-rescue-mode", "power-on", "power-off", "power-cycle", "query-power-state",
}
# ...and what any user may do with a machine nobody owns.
UNOWNED_ACTIONS = {"allocate", "deploy"}

User = get_user_model()
ADMIN = User(pk=1, username="admin", is_superuser=True)
OWNER = User(pk=2, username="owner")
OTHER = User(pk=3, username="other")
# Unsaved: the zone and pool are given so that their defaults do not query the database.
OWNED = Machine(system_id="owned1", owner_id=OWNER.pk, zone_id=1, pool_id=1)
UNOWNED = Machine(system_id="free01", zone_id=1, pool_id=1)

CASES = {  # (user, machine) -> may they run the action?
    "system": (None, OWNED, lambda action: True),
    "admin": (ADMIN, OWNED, lambda action: True),
    "owner": (OWNER, OWNED, lambda action: action in OWNER_ACTIONS),
    "other user": (OTHER, OWNED, lambda action: False),
    "anyone, unowned": (OTHER, UNOWNED, lambda action: action in UNOWNED_ACTIONS),
}


def permitted(user, machine: Machine, action: str) -> bool:
    try:
        require_action_permission(user, machine, action)
    except NotPermitted:
        return False
    return True


def test_the_spec_names_only_table_actions():
    assert OWNER_ACTIONS | UNOWNED_ACTIONS <= set(ACTIONS)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_who_may_run_each_action(action, case):
    user, machine, expected = CASES[case]
    assert permitted(user, machine, action) is expected(action)


def test_refusal_names_the_action_and_machine():
    with pytest.raises(NotPermitted, match="permission to retire machine owned1"):
        require_action_permission(OWNER, OWNED, "retire")
