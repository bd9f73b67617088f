"""A steady load through HAProxy: allocate a machine, power it on, again; and a probe.

Each client thread allocates (POST machines/allocate/) and powers on what it got, paced, until
told to stop or no machine is left (409). A request whose connection broke or that HAProxy
answered 502/503/504 (no region, or the region died mid-request) is retried after a pause:
each such attempt is written down as a failure, with its time.
"""
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.faults.region import call
from tests.processes import wait_until

RETRYABLE = {502, 503, 504}
SETTLE = 3.0  # seconds waited once every outcome is in: a duplicate would land meanwhile
RETRIES = 10
PAUSE = 0.2  # seconds between a failed attempt and the next, and between two allocations


@dataclass
class Load:
    """What the clients were answered: allocations, power actions, failed attempts."""

    base: str
    authorization: str
    allocated: list[str] = field(default_factory=list)  # system ids answered 200, in order
    powered: list[str] = field(default_factory=list)  # power-on answered 200
    failures: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, what)
    successes: list[float] = field(default_factory=list)  # monotonic end of each 2xx
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)  # what a thread died of

    def request(self, method: str, path: str) -> tuple[int, dict]:
        """(status, JSON body) of the first attempt not broken or 5xx from HAProxy."""
        for _ in range(RETRIES):
            try:
                status, _headers, text = call(self.base, method, path, self.authorization)
            except (OSError, http.client.HTTPException) as error:
                status, text = type(error).__name__, ""
            if status not in RETRYABLE and isinstance(status, int):
                with self.lock:
                    self.successes.append(time.monotonic())
                return status, json.loads(text) if text else {}
            with self.lock:
                self.failures.append((time.monotonic(), f"{method} {path}: {status}"))
            time.sleep(PAUSE)
        raise AssertionError(f"{method} {path}: no answer in {RETRIES} attempts")

    def client(self) -> None:
        """Allocate and power on until stopped or no machine is left."""
        while not self.stopping.is_set():
            status, body = self.request("POST", "/api/v1/machines/allocate/")
            if status == 409:
                return
            assert status == 200, (status, body)
            with self.lock:
                self.allocated.append(body["system_id"])
            path = f"/api/v1/machines/{body['system_id']}/power-on/"
            status, body = self.request("POST", path)
            assert status == 200, (status, body)
            with self.lock:
                self.powered.append(path.split("/")[4])
            time.sleep(PAUSE)

    def probe(self) -> None:
        """GET a page of machines every 50 ms: when requests fail and succeed again."""
        while not self.stopping.is_set():
            self.request("GET", "/api/v1/machines/?limit=1")
            time.sleep(0.05)

    def start(self, clients: int) -> list[threading.Thread]:
        """Start `clients` client threads and the probe."""
        targets = [self.client] * clients + [self.probe]
        threads = [threading.Thread(target=self.guarded, args=(target,), daemon=True)
                   for target in targets]
        for thread in threads:
            thread.start()
        return threads

    def guarded(self, target) -> None:
        """Run a thread's loop; what it dies of is kept for the test (and stops the others)."""
        try:
            target()
        except Exception as error:  # noqa: BLE001 -- reported by the test, not lost in a thread
            with self.lock:
                self.errors.append(repr(error))
            self.stopping.set()

    def recovery(self, killed: float) -> float:
        """Seconds from `killed` until requests succeed again: the end of the first success
        after the last failure (the first success after `killed` if none failed)."""
        with self.lock:
            failed = [at for at, _ in self.failures if at >= killed]
            after = max(failed, default=killed)
            return min(at for at in self.successes if at > after) - killed


def await_outcomes(reached: Callable[[], bool], timeout: float, describe: Callable[[], str],
                   settle_until: float = 0.0) -> None:
    """Poll `reached` (every action accepted reached its outcome) until true, AssertionError
    with describe() after `timeout` seconds; then wait SETTLE seconds more, or until
    `settle_until` (monotonic time) if later, for a duplicate (a second sweep, a result
    delivered again) to land."""
    wait_until(reached, timeout, describe)
    time.sleep(max(SETTLE, settle_until - time.monotonic()))
