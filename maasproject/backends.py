"""Errors that mean a backend is down, not a bug: PostgreSQL, or the broker (Redis).

Region tasks retry them (maasproject.region_tasks); the API answers them 503 with Retry-After
(maasproject.api.unavailable).
"""
import kombu.exceptions
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
