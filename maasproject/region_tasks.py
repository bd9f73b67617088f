"""Region Celery tasks: at-least-once, retried with backoff while PostgreSQL or the broker is down.

The queue settings (late acknowledgement, redelivery when a worker dies, prefetch 1) are in
settings; this decorator adds the retry policy. A task retried or redelivered runs again, so
every region task must be idempotent.
"""
import functools
from collections.abc import Callable

from celery import shared_task
from django.db import close_old_connections, connection

from maasproject.backends import BROKER_ERRORS, DATABASE_ERRORS

TRANSIENT_ERRORS = DATABASE_ERRORS + BROKER_ERRORS
# Waits of 1, 2, 4, 8 s, then 10 s, each drawn at random below that (full jitter: 5 s on
# average). The cap bounds how long a task waits after its backend returns: with 60 s, results
# that met a 20 s PostgreSQL outage were recorded up to a minute after it ended
# (tests/faults/test_database_outage_burst.py). 730 retries last about an hour (jitter halves
# each wait), so an outage of that length (a failover, an upgrade) drops no result.
RETRY_BACKOFF_MAX = 10
RETRY_POLICY = {"autoretry_for": TRANSIENT_ERRORS, "retry_backoff": 1,
                "retry_backoff_max": RETRY_BACKOFF_MAX, "retry_jitter": True, "max_retries": 730}


def region_task(name: str, **options) -> Callable:
    """shared_task with the region's retry policy; a database error drops stale connections."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except DATABASE_ERRORS:
                _drop_broken_connections()
                raise

        return shared_task(name=name, **{**RETRY_POLICY, **options})(run)

    return decorate


def _drop_broken_connections() -> None:
    """Close connections that are broken or too old, so the retry opens a fresh one."""
    if not connection.in_atomic_block:  # never inside a caller's transaction (eager, tests)
        close_old_connections()
