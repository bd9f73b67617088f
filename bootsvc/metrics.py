"""Rack /metrics, served by the HTTP boot server (:5248): DHCP, TFTP and HTTP transfers, power
calls and image-cache sync, in Prometheus text format.

Each number has one source of truth, read at scrape time:
- bootsvc's own (this process): the DHCP handlers' counters (bootsvc.dhcp.handler: packets by
  message type and result, offers, acks, drops by reason), the transfers counted from the boot
  events the TFTP and HTTP servers emit (`observing` wraps their callback), the TFTP server's
  broken transfers.
- the rack's other processes: the Celery worker (power calls; a prefork pool, so several
  processes) and the image-cache sync run apart from bootsvc. Each writes what it counts to a
  small JSON file under VAR_DIR/rack/metrics (`<kind>-<pid>.json`, replaced whole), and the
  scrape sums the files of a kind. A process that ended leaves its file, so counters never go
  backwards; one that finds a file of its own pid goes on from it. Empty the directory only
  while the rack is stopped.
No prometheus_client metric objects are used here (no process-wide state, no multiprocess
mode): the collector builds the families from these sources on each scrape.

Access as on the region: with METRICS_TOKEN set, `Authorization: Bearer <token>` only; without
it, loopback clients only (the boot network reaches :5248 too).
"""
from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from rack_worker.env import var_dir

PACKET_PREFIX = "packets."  # DHCP handler counters "packets.<type>.<result>"
LEASE_COUNTERS = {"offers": "offered", "acks": "acked"}
POWER_LABELS = ("driver", "action", "outcome")
IMAGE_SYNC_KEYS = ("files_done", "files_total", "bytes_done", "bytes_total")


def metrics_dir() -> Path:
    return var_dir() / "rack" / "metrics"


def write_json(path: Path, data) -> None:
    """Replace `path` whole (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class FileCounter:
    """A labelled counter of one process, kept in `<kind>-<pid>.json` for the exporter."""

    def __init__(self, kind: str, labels: tuple[str, ...], directory: Path | None = None):
        self.kind, self.labels, self.directory = kind, labels, directory
        self._values: Counter | None = None
        self._pid = None
        self._lock = threading.Lock()

    def path(self) -> Path:
        return (self.directory or metrics_dir()) / f"{self.kind}-{os.getpid()}.json"

    def inc(self, *values: str) -> None:
        """Add one; never raises (a metric must not fail a power call)."""
        try:
            with self._lock:
                if self._pid != os.getpid():  # first use, or a forked pool child
                    self._pid, self._values = os.getpid(), Counter(self._load())
                self._values[tuple(str(v) for v in values)] += 1
                write_json(self.path(), [[list(k), v] for k, v in self._values.items()])
        except (OSError, ValueError, TypeError):
            pass

    def _load(self) -> dict:
        try:
            return {tuple(k): v for k, v in json.loads(self.path().read_text())}
        except (OSError, ValueError, TypeError):
            return {}


def summed(directory: Path, kind: str) -> Counter:
    """The counts of every process's `<kind>-<pid>.json`, added up by labels."""
    total: Counter = Counter()
    for path in directory.glob(f"{kind}-*.json"):
        try:
            for labels, value in json.loads(path.read_text()):
                total[tuple(labels)] += value
        except (OSError, ValueError, TypeError):
            continue  # a file being replaced or damaged: the next scrape reads it
    return total


POWER_CALLS = FileCounter("power", POWER_LABELS)


def power_call_count(request: dict, outcome: str) -> None:
    """Count one power call's final outcome (rack_worker.tasks)."""
    POWER_CALLS.inc(request.get("power_type") or "unknown", request.get("action") or "unknown",
                    outcome)


def image_sync_record(progress: dict, directory: Path | None = None) -> None:
    """The image-cache sync's progress as last reported (rack_worker.imagecache)."""
    with contextlib.suppress(OSError, TypeError, ValueError):
        state = {key: progress.get(key, 0) for key in IMAGE_SYNC_KEYS}
        write_json((directory or metrics_dir()) / "imagesync.json",
                   {**state, "state": progress.get("state", ""), "time": time.time()})


class Transfers:
    """TFTP and HTTP transfers and bytes, counted from the boot events of their servers."""

    def __init__(self):
        self.files: Counter = Counter()  # (protocol, outcome)
        self.bytes: Counter = Counter()  # protocol
        self._lock = threading.Lock()

    def observe(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "tftp_file":
            protocol, outcome = "tftp", "complete"
        elif kind == "http_file":
            protocol = "http"
            outcome = ("broken" if event.get("error") else
                       "error" if int(event.get("status") or 0) >= 400 else "complete")
        else:
            return
        with self._lock:
            self.files[(protocol, outcome)] += 1
            self.bytes[protocol] += int(event.get("bytes") or 0)

    def snapshot(self) -> tuple[dict, dict]:
        with self._lock:
            return dict(self.files), dict(self.bytes)

    def observing(self, callback):
        """`callback` for boot events, counting each first (a counting error never blocks it)."""
        def observe_then(event: dict) -> None:
            with contextlib.suppress(Exception):
                self.observe(event)
            callback(event)
        return observe_then


class RackCollector:
    """Builds the rack's metric families from their sources at each scrape."""

    def __init__(self, transfers: Transfers, directory: Path | None = None):
        self.transfers, self.directory = transfers, directory
        self.dhcp = None  # bootsvc.service.DhcpManager, once started
        self.tftp = None  # bootsvc.tftp.BootTftpServer, once started

    def collect(self):
        yield from self.dhcp_families()
        yield from self.transfer_families()
        directory = self.directory or metrics_dir()
        power = CounterMetricFamily("maas_rack_power_calls", "Power calls finished by this "
                                    "rack's worker, by driver, action and outcome.",
                                    labels=list(POWER_LABELS))
        for labels, value in sorted(summed(directory, "power").items()):
            power.add_metric(list(labels), value)
        yield power
        yield from image_sync_families(directory)

    def dhcp_families(self):
        packets = CounterMetricFamily(
            "maas_rack_dhcp_packets", "DHCP packets received, by interface, message type and "
            "result (answered, ignored, malformed, error).", labels=["interface", "type", "result"])
        events = CounterMetricFamily(
            "maas_rack_dhcp_events", "The DHCP server's own counters (offers, acks, naks, "
            "drops by reason...), by interface.", labels=["interface", "counter"])
        leases = CounterMetricFamily("maas_rack_dhcp_leases", "DHCP leases offered and acked.",
                                     labels=["interface", "state"])
        servers = copied(self.dhcp.servers) if self.dhcp is not None else {}
        for interface, server in sorted(servers.items()):
            for key, value in sorted(copied(server.counters).items()):
                if key.startswith(PACKET_PREFIX):
                    kind, _, result = key[len(PACKET_PREFIX):].partition(".")
                    packets.add_metric([interface, kind, result], value)
                    continue
                events.add_metric([interface, key], value)
                if key in LEASE_COUNTERS:
                    leases.add_metric([interface, LEASE_COUNTERS[key]], value)
        yield from (packets, events, leases)

    def transfer_families(self):
        files = CounterMetricFamily("maas_rack_transfers", "Boot files served over TFTP and "
                                    "HTTP, by outcome (complete, broken, error).",
                                    labels=["protocol", "outcome"])
        size = CounterMetricFamily("maas_rack_transfer_bytes", "Bytes of boot files the "
                                   "clients received, by protocol.", labels=["protocol"])
        counted, sent = self.transfers.snapshot()
        if self.tftp is not None:
            counted[("tftp", "broken")] = self.tftp.broken_transfers
        for (protocol, outcome), value in sorted(counted.items()):
            files.add_metric([protocol, outcome], value)
        for protocol, value in sorted(sent.items()):
            size.add_metric([protocol], value)
        yield from (files, size)


def copied(mapping) -> dict:
    """A copy of a dict the event loop thread may grow meanwhile (a new key: copy again)."""
    for _ in range(10):
        try:
            return dict(mapping)
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    return {}


def image_sync_families(directory: Path):
    """maas_rack_image_sync_{files,bytes}{kind=done|total} and the report's time."""
    files = GaugeMetricFamily("maas_rack_image_sync_files", "Boot image files this rack's "
                              "cache sync has done, of its total.", labels=["kind"])
    size = GaugeMetricFamily("maas_rack_image_sync_bytes", "Boot image bytes this rack's "
                             "cache sync has done, of its total.", labels=["kind"])
    when = GaugeMetricFamily("maas_rack_image_sync_report_timestamp_seconds",
                             "When the image-cache sync last reported (Unix time).")
    try:
        state = json.loads((directory / "imagesync.json").read_text())
    except (OSError, ValueError):
        state = None
    if isinstance(state, dict):
        for family, unit in ((files, "files"), (size, "bytes")):
            for kind in ("done", "total"):
                family.add_metric([kind], state.get(f"{unit}_{kind}", 0))
        when.add_metric([], state.get("time", 0))
    return files, size, when


def allowed(token: str, authorization: str, client: str) -> bool:
    """With a token: its bearer only; without: loopback clients only."""
    if token:
        return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


class RackMetrics:
    """What the HTTP boot server answers at /metrics: (status, body, content type)."""

    def __init__(self, directory: Path | None = None, token: str | None = None):
        self.transfers = Transfers()
        self.collector = RackCollector(self.transfers, directory)
        self.token = os.environ.get("METRICS_TOKEN", "") if token is None else token
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

    def answer(self, authorization: str, client: str) -> tuple[int, bytes, str]:
        if not allowed(self.token, authorization, client):
            return 403, b"forbidden\n", "text/plain; charset=utf-8"
        return 200, generate_latest(self.registry), CONTENT_TYPE_LATEST
