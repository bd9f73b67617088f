"""GET /healthz: whether this region can reach PostgreSQL and the broker, for a load balancer.

Unauthenticated, so it says only "ok" or "unavailable" per backend: no hostnames, versions or
error texts. Each check opens a connection of its own with a short timeout: a load balancer
checks every second, and a region whose database hangs must fail the check, not hang it.
"""
import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from kombu import Connection

from maasproject.backends import BROKER_ERRORS, broker_redis
from rack_worker.env import is_redis_url

CHECK_TIMEOUT = 2  # seconds per check; libpq's connect_timeout takes no less than 2
OK, UNAVAILABLE = "ok", "unavailable"


def database_ok() -> bool:
    """True if a new database connection answers SELECT 1 within CHECK_TIMEOUT."""
    params = connection.get_connection_params()
    if connection.vendor == "postgresql":
        params["connect_timeout"] = CHECK_TIMEOUT
        params["options"] = f"-c statement_timeout={CHECK_TIMEOUT * 1000}"
    try:
        # The driver's own connect: Django's wrapper would share state with the request's.
        raw = connection.Database.connect(**params)
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
        finally:
            raw.close()
    except connection.Database.Error:
        return False


def broker_ok() -> bool:
    """True if the broker answers within CHECK_TIMEOUT (Redis: PING, through Sentinels to the
    master they name; else a kombu connect)."""
    url = settings.CELERY_BROKER_URL
    try:
        if is_redis_url(url):
            client = broker_redis(url, CHECK_TIMEOUT)
            try:
                return bool(client.ping())
            finally:
                client.close()
        with Connection(url, transport=settings.CELERY_BROKER_TRANSPORT,
                        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
                        connect_timeout=CHECK_TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
            return True
    except (*BROKER_ERRORS, redis.exceptions.RedisError, OSError):
        return False


@never_cache
@require_safe
def healthz(request) -> JsonResponse:
    """200 {"status": "ok", "database": "ok", "broker": "ok"}, or 503 naming what failed."""
    parts = {"database": OK if database_ok() else UNAVAILABLE,
             "broker": OK if broker_ok() else UNAVAILABLE}
    healthy = all(state == OK for state in parts.values())
    return JsonResponse({"status": OK if healthy else UNAVAILABLE, **parts},
                        status=200 if healthy else 503)
