"""Who may do what: admins everything; users act on machines they own."""
from maasproject.errors import NotPermitted
from maasproject.permissions import is_admin
from nodes.models import Machine

# Actions a non-admin owner may perform on a machine they own.
OWNER_ACTIONS = frozenset(
    {
        "deploy", "release", "abort", "power-on", "power-off", "power-cycle",
        "query-power-state", "lock", "unlock", "rescue-mode", "exit-rescue-mode", "mark-broken",
    }
)

# Actions a user may perform on an unowned machine (deploying a Ready machine allocates it).
UNOWNED_ACTIONS = frozenset({"deploy"})


def require_action_permission(user, machine: Machine, action: str) -> None:
    """Raise NotPermitted unless `user` may perform `action` on `machine`."""
    if user is None:  # internal callers (tasks, beat) act as the system
        return
    if is_admin(user):
        return
    if action in OWNER_ACTIONS and machine.owner_id == user.pk:
        return
    if action in UNOWNED_ACTIONS and machine.owner_id is None:
        return
    raise NotPermitted(f"You do not have permission to {action} machine {machine.system_id}.")

