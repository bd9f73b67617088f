"""Who may do what: admins everything; other users what the lifecycle table's `who` allows."""
from maasproject.errors import NotPermitted
from maasproject.permissions import is_admin
from nodes import lifecycle
from nodes.models import Machine


def may_run(who: str, *, owns: bool, unowned: bool) -> bool:
    """Return whether a non-admin may run an action whose rule says `who`."""
    if who == lifecycle.OWNER:
        return owns
    if who == lifecycle.OWNER_OR_UNOWNED:
        return owns or unowned
    return False


def require_action_permission(user, machine: Machine, action: str) -> None:
    """Raise NotPermitted unless `user` may perform `action` on `machine`."""
    if user is None:  # internal callers (tasks, beat) act as the system
        return
    if is_admin(user):
        return
    who = lifecycle.ACTIONS[action].who
    if may_run(who, owns=machine.owner_id == user.pk, unowned=machine.owner_id is None):
        return
    raise NotPermitted(f"You do not have permission to {action} machine {machine.system_id}.")
