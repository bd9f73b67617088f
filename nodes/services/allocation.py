"""Allocation: pick the best-fitting Ready machine for a set of constraints and give it to a user.

Constraints follow MAAS's `machines allocate`: name, system_id, arch, cpu_count, mem, tags,
not_tags, zone, not_in_zone, pool, not_in_pool; nodes.selectors.allocation turns them into
filters and best-fit candidates.

Concurrency: the candidate row is locked before it is transitioned. On PostgreSQL that is
`SELECT ... FOR UPDATE SKIP LOCKED` over the ordered candidates, so concurrent requests take
different machines without waiting. SQLite has no row locks; the transaction takes the
database write lock first (a no-op UPDATE, like BEGIN IMMEDIATE), which serialises
allocations. Either way a ConcurrentTransition from the FSM mixin is retried.
"""
import time

from django.db import connection, transaction
from django_fsm import ConcurrentTransition

from nodes.models import Machine
from nodes.selectors.allocation import (
    AllocationConstraints,
    Filter,
    build_filters,
    candidates,
    no_match_error,
)
from nodes.services.lifecycle import apply_action, check_action
from nodes.services.permissions import require_action_permission

# How often to retry when another transaction changed the chosen machine underneath us.
MAX_ATTEMPTS = 5
# While every candidate is locked, how often and how long apart allocation looks again.
LOCKED_RETRIES, LOCKED_RETRY_DELAY = 10, 0.1


def machine_allocate(
    user, constraints: AllocationConstraints, *, dry_run: bool = False, comment: str = ""
) -> Machine:
    """Allocate the best-fitting available machine to `user` (or just pick it when dry_run).

    Candidates are Ready, unowned and unlocked machines that satisfy every constraint; the
    one chosen is the smallest: ordered by cpu_count, then memory (MiB), then hostname (id as
    a last resort), ascending. Raises InvalidConstraint for unknown zones, pools or tags and
    NoMatchingMachine, naming the constraint that eliminated the candidates, when none fits.
    """
    filters = build_filters(constraints)
    if dry_run:
        machine = candidates(filters).first()
        if machine is None:
            raise no_match_error(constraints, filters)
        return machine
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _allocate_once(user, constraints, filters, comment)
        except ConcurrentTransition:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _allocate_once(
    user, constraints: AllocationConstraints, filters: list[Filter], comment: str
) -> Machine:
    """Lock the first free candidate, transition it to Allocated for `user`, write the Event."""
    with transaction.atomic():
        _take_sqlite_write_lock()
        machine = _lock_free_candidate(filters)
        if machine is None:
            raise no_match_error(constraints, filters)
        require_action_permission(user, machine, "allocate")
        check_action(machine, "allocate")

        def change(m: Machine) -> None:
            m.owner = user

        apply_action(machine, "allocate", user, change=change, note=comment)
    return machine


def _lock_free_candidate(filters: list[Filter]) -> Machine | None:
    """The first candidate no one holds, locked. While candidates exist but all are locked
    (by concurrent allocations, or by a short write of another kind: a power result, an
    inventory update, which must not turn into a 409), look again for up to about a second;
    no blocking wait, so no deadlock between allocations."""
    for _ in range(LOCKED_RETRIES):
        machine = candidates(filters).select_for_update(skip_locked=True).first()
        if machine is not None or not candidates(filters).exists():
            return machine
        time.sleep(LOCKED_RETRY_DELAY)
    return None


def _take_sqlite_write_lock() -> None:
    """On SQLite, take the write lock now (waiting up to the timeout); no-op elsewhere."""
    # A deferred transaction that reads first fails at once ("database is locked") when it
    # later tries to write while another holds the lock; writing first makes SQLite wait.
    if connection.vendor != "sqlite":
        return
    table = connection.ops.quote_name(Machine._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET id = id WHERE 0 = 1")
