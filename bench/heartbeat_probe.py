"""Rack heartbeat latency under load: a heartbeat every `period` seconds, each timed.

Sent as rackd sends them (POST /api/v1/rack/heartbeat/ with the rack's credentials), with the
interfaces and services the rack last reported, so that the rack's state stays as it is. Each
probe runs in a thread of its own on a fixed schedule: a slow answer does not delay the next
probe, so a starved listener shows as long latencies rather than as fewer samples.
"""
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HeartbeatProbe:
    """Times heartbeats to `url` until stop(); `latencies` (s) of answered ones, `failures`."""

    def __init__(self, url: str, credentials: dict, body: dict, period: float = 0.5,
                 timeout: float = 60.0):
        self.request = dict(url=url.rstrip("/") + "/api/v1/rack/heartbeat/",
                            data=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json",
                                     "Authorization": f"Rack {credentials['system_id']}:"
                                                      f"{credentials['token']}"})
        self.period, self.timeout = period, timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max(4, int(timeout / period) + 1))
        self._ticker = threading.Thread(target=self._tick, name="heartbeat-probe", daemon=True)

    def start(self) -> "HeartbeatProbe":
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop sending; wait for the probes in flight (at most `timeout`)."""
        self._stopping.set()
        self._ticker.join()
        self._pool.shutdown(wait=True)

    def _tick(self) -> None:
        next_at = time.monotonic()
        while not self._stopping.is_set():
            self._pool.submit(self._one)
            next_at += self.period
            self._stopping.wait(max(0.0, next_at - time.monotonic()))

    def _one(self) -> None:
        started = time.monotonic()
        request = urllib.request.Request(method="POST", **self.request)
        try:
            with NO_PROXY.open(request, timeout=self.timeout) as answer:
                answer.read()
            self.latencies.append(time.monotonic() - started)
        except urllib.error.HTTPError as exc:
            self.failures.append(f"heartbeat: {exc.code}")
        except OSError as exc:
            self.failures.append(f"heartbeat: {type(exc).__name__}: {exc}")

    def summary(self, percentile) -> str:
        """p50 / p95 / p99 / max in ms, how many took over 1 s and over 10 s, failures."""
        values = self.latencies
        if not values:
            return f"no heartbeat answered ({len(self.failures)} failed)"
        spread = " / ".join(f"{1000 * percentile(values, pct):.0f}" for pct in (50, 95, 99))
        return (f"{len(values)} answered, p50 / p95 / p99 / max {spread} / "
                f"{1000 * max(values):.0f} ms; over 1 s: {sum(v > 1 for v in values)}, over "
                f"10 s (rackd's timeout): {sum(v > 10 for v in values)}; failed: "
                f"{len(self.failures)}")
