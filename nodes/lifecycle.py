"""The machine lifecycle as data: which action is allowed from which status, and where it leads.

MAAS's rules: every in-progress status has a failed status; abort returns to the status the
machine was in before the work started (erasing is the exception: a half-wiped disk is a
failure, as in MAAS); mark fixed returns to Deployed or Ready, and only once commissioning
passed (a rule's `requires`); lock only on Deployed, and a locked machine refuses every action
but unlock (and the read-only power query). Admins may run every action; each rule says who
else may (nodes.services.permissions enforces it).
"""
from dataclasses import dataclass, field

from nodes.choices import NodeStatus as S

ALL = frozenset(S.values)

# Symbolic targets, resolved against the machine by `resolve_target`.
PREVIOUS = "previous"
DEPLOYED_OR_READY = "deployed_or_ready"
UNCHANGED = "unchanged"
SOURCE = "source"

# Who may run an action besides admins (who may run all): nobody else, the machine's owner, or
# also any user when the machine has no owner (deploying a Ready machine allocates it).
ADMIN = "admin"
OWNER = "owner"
OWNER_OR_UNOWNED = "owner_or_unowned"

# Preconditions beyond the status a rule may require (nodes.services.lifecycle checks them):
# the machine's latest commissioning passed (MAAS refuses to fix a never-commissioned machine).
COMMISSIONING_PASSED = "commissioning_passed"


@dataclass(frozen=True)
class Rule:
    """One action: the statuses it is allowed from and the status it leads to."""

    sources: frozenset
    target: int | str = UNCHANGED
    # What to keep in previous_status (where abort and exit-rescue return):
    # SOURCE, a fixed status, or None.
    remember: int | str | None = None
    # ADMIN, OWNER or OWNER_OR_UNOWNED: keyword-only and required, so every row states it.
    who: str = field(kw_only=True)
    # Preconditions (COMMISSIONING_PASSED) the machine must also meet.
    requires: frozenset = field(default=frozenset(), kw_only=True)


FAILED_STATUSES = frozenset(
    {
        S.FAILED_COMMISSIONING, S.FAILED_DEPLOYMENT, S.FAILED_RELEASING, S.FAILED_DISK_ERASING,
        S.FAILED_ENTERING_RESCUE_MODE, S.FAILED_EXITING_RESCUE_MODE, S.FAILED_TESTING,
    }
)

# In-progress statuses: (status on success, status on failure or missed deadline).
IN_PROGRESS = {
    S.COMMISSIONING: (S.READY, S.FAILED_COMMISSIONING),
    S.TESTING: (DEPLOYED_OR_READY, S.FAILED_TESTING),
    S.DEPLOYING: (S.DEPLOYED, S.FAILED_DEPLOYMENT),
    S.RELEASING: (S.READY, S.FAILED_RELEASING),
    S.DISK_ERASING: (S.READY, S.FAILED_DISK_ERASING),
    S.ENTERING_RESCUE_MODE: (S.RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE),
    S.EXITING_RESCUE_MODE: (PREVIOUS, S.FAILED_EXITING_RESCUE_MODE),
}

# The console's status filters and colours, as MAAS groups them; other statuses are "other".
STATUS_GROUPS = {
    "failed": FAILED_STATUSES | {S.BROKEN},
    "progress": frozenset(IN_PROGRESS),
    "ready": frozenset({S.NEW, S.READY, S.ALLOCATED}),
    "deployed": frozenset({S.DEPLOYED, S.RESCUE_MODE}),
}

# User actions, keyed by the name used in the API path (/machines/{id}/<action>/). Each has one
# service (nodes.services.action_registry), one API endpoint (nodes.api.machine_actions, but
# allocate and delete) and, when it changes the status, one Machine transition of its name.
ACTIONS: dict[str, Rule] = {
    "commission": Rule(
        frozenset({S.NEW, S.READY, S.BROKEN, S.MISSING, S.RETIRED, S.FAILED_COMMISSIONING,
                   S.FAILED_TESTING, S.FAILED_DISK_ERASING}),
        S.COMMISSIONING, remember=SOURCE, who=ADMIN,
    ),
    "test": Rule(
        frozenset({S.READY, S.DEPLOYED, S.BROKEN, S.FAILED_TESTING}), S.TESTING,
        remember=SOURCE, who=ADMIN,
    ),
    "abort": Rule(
        frozenset({S.COMMISSIONING, S.TESTING, S.DEPLOYING, S.DISK_ERASING}), PREVIOUS, who=OWNER
    ),
    # In effect any user: allocation only ever picks unowned machines (nodes.selectors.allocation).
    "allocate": Rule(frozenset({S.READY}), S.ALLOCATED, who=OWNER_OR_UNOWNED),
    # Deploying a Ready machine allocates it first (as MAAS does): abort returns to Allocated.
    "deploy": Rule(
        frozenset({S.READY, S.ALLOCATED}), S.DEPLOYING, remember=S.ALLOCATED,
        who=OWNER_OR_UNOWNED,
    ),
    "release": Rule(
        frozenset({S.ALLOCATED, S.RESERVED, S.DEPLOYED, S.FAILED_DEPLOYMENT, S.FAILED_RELEASING,
                   S.FAILED_DISK_ERASING, S.FAILED_ENTERING_RESCUE_MODE,
                   S.FAILED_EXITING_RESCUE_MODE}),
        S.RELEASING, who=OWNER,
    ),
    "mark-broken": Rule(ALL - {S.BROKEN, S.RETIRED}, S.BROKEN, remember=SOURCE, who=OWNER),
    "mark-fixed": Rule(frozenset({S.BROKEN}), DEPLOYED_OR_READY, who=ADMIN,
                       requires=frozenset({COMMISSIONING_PASSED})),
    "lock": Rule(frozenset({S.DEPLOYED}), who=OWNER),
    "unlock": Rule(ALL, who=OWNER),
    "rescue-mode": Rule(
        frozenset({S.READY, S.ALLOCATED, S.DEPLOYED, S.BROKEN, S.FAILED_COMMISSIONING,
                   S.FAILED_DEPLOYMENT, S.FAILED_TESTING, S.FAILED_RELEASING,
                   S.FAILED_DISK_ERASING}),
        S.ENTERING_RESCUE_MODE, remember=SOURCE, who=OWNER,
    ),
    "exit-rescue-mode": Rule(
        frozenset({S.RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE, S.FAILED_EXITING_RESCUE_MODE}),
        S.EXITING_RESCUE_MODE, who=OWNER,
    ),
    "override-failed-testing": Rule(frozenset({S.FAILED_TESTING}), DEPLOYED_OR_READY, who=ADMIN),
    "retire": Rule(
        frozenset({S.NEW, S.READY, S.BROKEN, S.MISSING, S.FAILED_COMMISSIONING, S.FAILED_TESTING,
                   S.FAILED_RELEASING, S.FAILED_DISK_ERASING}),
        S.RETIRED, who=ADMIN,
    ),
    "set-zone": Rule(ALL, who=ADMIN),
    "set-pool": Rule(ALL, who=ADMIN),
    "power-on": Rule(ALL - {S.RETIRED}, who=OWNER),
    "power-off": Rule(ALL, who=OWNER),
    "power-cycle": Rule(ALL - {S.RETIRED}, who=OWNER),
    "query-power-state": Rule(ALL, who=OWNER),
    "delete": Rule(ALL - frozenset(IN_PROGRESS), who=ADMIN),
}

# What a locked machine still accepts.
ALLOWED_WHEN_LOCKED = frozenset({"unlock", "query-power-state"})
# A release with erase goes straight to erasing (the rack powers off as part of the job).
RELEASE_WITH_ERASE_TARGET = S.DISK_ERASING
# Abort exceptions: aborting an erase leaves the disk half-wiped, so it is a failure.
ABORT_TARGET_OVERRIDES = {S.DISK_ERASING: S.FAILED_DISK_ERASING}


def allowed_actions(status: int, locked: bool) -> list[str]:
    """Return the action names allowed for a machine in `status`, in table order."""
    names = [name for name, rule in ACTIONS.items() if status in rule.sources]
    if locked:
        return [name for name in names if name in ALLOWED_WHEN_LOCKED]
    return [name for name in names if name != "unlock"]


def status_timeout_seconds(status: int, default: int, releasing: int) -> int | None:
    """Return the deadline for an in-progress status, or None for a resting one."""
    if status not in IN_PROGRESS:
        return None
    return releasing if status == S.RELEASING else default


def resolve_target(target: int | str, current: int, previous: int | None) -> int:
    """Turn a symbolic target into a status code for a machine in `current`."""
    if target == UNCHANGED:
        return current
    if target == PREVIOUS:
        return ABORT_TARGET_OVERRIDES.get(current, previous if previous is not None else S.NEW)
    if target == DEPLOYED_OR_READY:
        return S.DEPLOYED if previous == S.DEPLOYED else S.READY
    return int(target)
