"""The machine lifecycle as data: which action is allowed from which status, and where it leads.

MAAS's rules: every in-progress status has a failed status; abort returns to the status the
machine was in before the work started (erasing is the exception: a half-wiped disk is a
failure, as in MAAS); mark fixed returns to Deployed or Ready; lock only on Deployed, and a
locked machine refuses every action but unlock (and the read-only power query).
"""
from dataclasses import dataclass

from nodes.choices import NodeStatus as S

ALL = frozenset(S.values)

# Symbolic targets, resolved against the machine by `resolve_target`.
PREVIOUS = "previous"
DEPLOYED_OR_READY = "deployed_or_ready"
UNCHANGED = "unchanged"
SOURCE = "source"


@dataclass(frozen=True)
class Rule:
    """One action: the statuses it is allowed from and the status it leads to."""

    sources: frozenset
    target: int | str = UNCHANGED
    # What to keep in previous_status (where abort and exit-rescue return):
    # SOURCE, a fixed status, or None.
    remember: int | str | None = None


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

# User actions, keyed by the name used in the API path (/machines/{id}/<action>/).
ACTIONS: dict[str, Rule] = {
    "commission": Rule(
        frozenset({S.NEW, S.READY, S.BROKEN, S.MISSING, S.RETIRED, S.FAILED_COMMISSIONING,
                   S.FAILED_TESTING, S.FAILED_DISK_ERASING}),
        S.COMMISSIONING, remember=SOURCE,
    ),
    "test": Rule(
        frozenset({S.READY, S.DEPLOYED, S.BROKEN, S.FAILED_TESTING}), S.TESTING,
        remember=SOURCE,
    ),
    "abort": Rule(
        frozenset({S.COMMISSIONING, S.TESTING, S.DEPLOYING, S.DISK_ERASING}), PREVIOUS
    ),
    "allocate": Rule(frozenset({S.READY}), S.ALLOCATED),
    # Deploying a Ready machine allocates it first (as MAAS does): abort returns to Allocated.
    "deploy": Rule(frozenset({S.READY, S.ALLOCATED}), S.DEPLOYING, remember=S.ALLOCATED),
    "release": Rule(
        frozenset({S.ALLOCATED, S.RESERVED, S.DEPLOYED, S.FAILED_DEPLOYMENT, S.FAILED_RELEASING,
                   S.FAILED_DISK_ERASING, S.FAILED_ENTERING_RESCUE_MODE,
                   S.FAILED_EXITING_RESCUE_MODE}),
        S.RELEASING,
    ),
    "mark-broken": Rule(ALL - {S.BROKEN, S.RETIRED}, S.BROKEN, remember=SOURCE),
    "mark-fixed": Rule(frozenset({S.BROKEN}), DEPLOYED_OR_READY),
    "lock": Rule(frozenset({S.DEPLOYED})),
    "unlock": Rule(ALL),
    "rescue-mode": Rule(
        frozenset({S.READY, S.ALLOCATED, S.DEPLOYED, S.BROKEN, S.FAILED_COMMISSIONING,
                   S.FAILED_DEPLOYMENT, S.FAILED_TESTING, S.FAILED_RELEASING,
                   S.FAILED_DISK_ERASING}),
        S.ENTERING_RESCUE_MODE, remember=SOURCE,
    ),
    "exit-rescue-mode": Rule(
        frozenset({S.RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE, S.FAILED_EXITING_RESCUE_MODE}),
        S.EXITING_RESCUE_MODE,
    ),
    "override-failed-testing": Rule(frozenset({S.FAILED_TESTING}), DEPLOYED_OR_READY),
    "retire": Rule(
        frozenset({S.NEW, S.READY, S.BROKEN, S.MISSING, S.FAILED_COMMISSIONING, S.FAILED_TESTING,
                   S.FAILED_RELEASING, S.FAILED_DISK_ERASING}),
        S.RETIRED,
    ),
    "set-zone": Rule(ALL),
    "set-pool": Rule(ALL),
    "power-on": Rule(ALL - {S.RETIRED}),
    "power-off": Rule(ALL),
    "power-cycle": Rule(ALL - {S.RETIRED}),
    "query-power-state": Rule(ALL),
    "delete": Rule(ALL - frozenset(IN_PROGRESS)),
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
