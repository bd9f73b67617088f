"""Errors that mean a backend is down, not a bug: PostgreSQL, or the broker (Redis); and whether
the broker Redis keeps its queues across a restart.

Region tasks retry them (maasproject.region_tasks); the API answers them 503 with Retry-After
(maasproject.api.unavailable).
"""
import kombu.exceptions
import redis
import redis.exceptions
from django.db import InterfaceError, OperationalError

DATABASE_ERRORS = (OperationalError, InterfaceError)
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError,
                 redis.exceptions.TimeoutError)


def unavailable_backend(exc: BaseException) -> str | None:
    """"database" or "broker" when exc says that backend cannot be reached, else None."""
    if isinstance(exc, DATABASE_ERRORS):
        return "database"
    if isinstance(exc, BROKER_ERRORS):
        return "broker"
    return None


def broker_persistence_problem(url: str) -> str | None:
    """Why the Redis broker at `url` would lose queued work on a restart, or None.

    The README requires `appendonly yes`: without it a Redis restart drops power requests and
    results still queued. None too when the broker is not Redis, is down, or hides CONFIG (a
    managed Redis): nothing can be said then.
    """
    if not url.startswith(("redis://", "rediss://")):
        return None
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        appendonly = client.config_get("appendonly").get("appendonly")
    except redis.exceptions.RedisError:
        return None
    if appendonly != "no":
        return None
    return ("The broker Redis runs with appendonly no: a restart of it loses the power requests "
            "and results still queued. Set `appendonly yes` (README: broker persistence).")
