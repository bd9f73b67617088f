"""Region /metrics: Prometheus text format for every region process of this host.

Choice: prometheus_client's multiprocess mode. The settings point PROMETHEUS_MULTIPROC_DIR at
METRICS_DIR (VAR_DIR/metrics) before any metric exists, so that each region process of the host
(gunicorn workers of both listeners, the region Celery worker and its pool, beat, manage.py
commands) keeps its counters and histograms in mmap files of its own there, and a scrape answered
by any web worker sums them all. What the database or the broker knows (machines by status, queue
depths) is read at scrape time by the collectors named in METRICS_COLLECTORS, never kept in a
process: no gauge lives in the files, so no gunicorn child_exit hook is needed.

Limits: scrape every region host (Prometheus sums across them); hosts must not share a VAR_DIR.
The files of processes that ended stay and keep their counts (counters never go backwards), so
each restarted worker adds a few small files: remove the directory's files only while no region
process of the host runs. A process that imported prometheus_client before the settings set the
directory counts for itself alone (ProcessLocal below exposes it then, rather than nothing).
"""
import hmac
import ipaddress
import time

from django.conf import settings
from django.http import HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
UNMATCHED = "<unmatched>"  # no URL pattern matched, or a middleware answered before routing
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "maas_http_requests", "Region HTTP requests answered, by URL route, method and status.",
    ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "maas_http_request_duration_seconds", "Region HTTP request latency, by URL route and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS)


def route_of(request) -> str:
    """The URL pattern that matched (ids left as `<str:system_id>`): a bounded label."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return match.route or match.view_name or UNMATCHED


class MetricsMiddleware:
    """Counts and times every request by route, method and status (outermost middleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"  # clients choose it
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
        return response


class ProcessLocal:
    """The default registry's metrics: this process's own, when multiprocess mode is off."""

    def collect(self):
        return REGISTRY.collect()


def multiprocess_enabled() -> bool:
    return getattr(values.ValueClass, "_multiprocess", False)


def scrape_registry() -> CollectorRegistry:
    """A registry for one scrape: the processes' files, then the scrape-time collectors."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_enabled():
        MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    else:
        registry.register(ProcessLocal())
    for path in settings.METRICS_COLLECTORS:
        for collector in import_string(path)():
            registry.register(collector)
    return registry


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def allowed(request) -> bool:
    """With METRICS_TOKEN: `Authorization: Bearer <token>`; without: loopback clients only."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return is_loopback(request.META.get("REMOTE_ADDR", ""))


@never_cache
@require_safe
def metrics_view(request) -> HttpResponse:
    """GET /metrics: the region's metrics (Prometheus text format); 403 to anyone not allowed."""
    if not allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
