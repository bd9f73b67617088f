"""The machines' metrics: lifecycle transitions and power outcomes counted where services record
them, machines by status and the task queues read at scrape time (maasproject.metrics)."""
from django.db.models import Count
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from maasproject.queue_metrics import QueueCollector
from nodes.choices import NodeStatus
from nodes.models import Machine
from zones.models import RackController

TRANSITIONS = Counter(
    "maas_machine_transitions", "Machine status changes recorded, by status before and after.",
    ["from_status", "to_status"])
POWER_RESULTS = Counter(
    "maas_power_results", "Power request outcomes recorded, by action and outcome "
    "(success, or the failure's kind).", ["action", "outcome"])


def status_label(status: int) -> str:
    """A status as a stable label: its enum name in lower case (failed_commissioning)."""
    try:
        return NodeStatus(status).name.lower()
    except ValueError:
        return str(status)


# Counted as the services record them, inside their transaction: one that rolls back after
# (rare: they lock and check first) has counted all the same. Not on_commit, which would add
# a callback to every transition that tests and services reason about as "work enqueued".
def transition_count(before: int, after: int) -> None:
    """Count a status change (none when the status stayed)."""
    if before != after:
        TRANSITIONS.labels(status_label(before), status_label(after)).inc()


def power_result_count(action: str, outcome: str) -> None:
    """Count a power outcome stored (outcome: success, or the failure's kind)."""
    POWER_RESULTS.labels(action or "unknown", outcome[:64] or "unknown").inc()


class MachineStatusCollector:
    """maas_machines{status}: every status, zeros included, from one GROUP BY at scrape time."""

    def collect(self):
        counts = dict(Machine.objects.order_by().values_list("status").annotate(n=Count("id")))
        family = GaugeMetricFamily("maas_machines", "Machines by status.", labels=["status"])
        for status in NodeStatus:
            family.add_metric([status_label(status)], counts.get(status.value, 0))
        yield family


class RackImageSyncCollector:
    """maas_rack_image_sync_{files,bytes}{rack,kind=done|total}: each rack's last sync report."""

    def collect(self):
        files = GaugeMetricFamily("maas_rack_image_sync_files",
                                  "Boot image files a rack's cache sync has done, of its total.",
                                  labels=["rack", "kind"])
        size = GaugeMetricFamily("maas_rack_image_sync_bytes",
                                 "Boot image bytes a rack's cache sync has done, of its total.",
                                 labels=["rack", "kind"])
        for name, sync in RackController.objects.values_list("name", "image_sync"):
            for family, unit in ((files, "files"), (size, "bytes")):
                for kind in ("done", "total"):
                    value = (sync or {}).get(f"{unit}_{kind}")
                    if isinstance(value, int | float):
                        family.add_metric([name, kind], value)
        yield from (files, size)


def rack_queue_names() -> list[str]:
    """Every registered rack's Celery queue (rack_worker.client.RackInfo.queue's form)."""
    return [f"rack.{name}" for name in RackController.objects.values_list("name", flat=True)]


def region_collectors() -> list:
    """The scrape-time collectors of METRICS_COLLECTORS."""
    return [MachineStatusCollector(), RackImageSyncCollector(), QueueCollector(rack_queue_names)]
