"""Errors that mean a backend is down, not a bug: PostgreSQL, or the broker (Redis); and whether
the broker Redis keeps its queues across a restart.

Region tasks retry them (maasproject.region_tasks); the API answers them 503 with Retry-After
(maasproject.api.unavailable).
"""
import kombu.exceptions
import redis
import redis.exceptions
import redis.sentinel
from django.db import InterfaceError, OperationalError

from rack_worker.env import is_redis_url, is_sentinel_url, sentinel_master_name, sentinel_parts

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


def broker_redis(url: str, timeout: float) -> redis.Redis:
    """A client of the broker's Redis: the URL's server, or the master its Sentinels name now.

    Every command through Sentinels asks them for the master first (on each new connection), so
    a client kept across a failover follows the promoted replica.
    """
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    parts = sentinel_parts(url)
    sentinels = redis.sentinel.Sentinel(
        parts["sentinels"], sentinel_kwargs={"socket_timeout": timeout,
                                             "socket_connect_timeout": timeout})
    return sentinels.master_for(sentinel_master_name(), socket_timeout=timeout,
                                socket_connect_timeout=timeout, db=parts["db"],
                                username=parts["username"], password=parts["password"])


def broker_persistence_problem(url: str) -> str | None:
    """Why the Redis broker at `url` would lose queued work on a restart, or None.

    The README requires `appendonly yes`: without it a Redis restart drops power requests and
    results still queued. Behind Sentinels, the current master is asked. None too when the
    broker is not Redis, is down, or hides CONFIG (a managed Redis): nothing can be said then.
    """
    if not is_redis_url(url):
        return None
    try:
        appendonly = broker_redis(url, 2).config_get("appendonly").get("appendonly")
    except redis.exceptions.RedisError:
        return None
    if appendonly != "no":
        return None
    return ("The broker Redis runs with appendonly no: a restart of it loses the power requests "
            "and results still queued. Set `appendonly yes` (README: broker persistence).")
