"""PostgreSQL's primary killed mid-load: Patroni promotes the synchronous standby, the region
resumes by itself, and no acknowledged write is lost.

A cluster of the test's own (tests.ha.patroni): one etcd member, two Patroni nodes in
synchronous mode (lab/ha/patroni.yml, ttl 10 s). A region web server reaches them through a
multi-host DATABASE_URL with target_session_attrs=read-write. Client threads create zones
through the API; the primary's Patroni and PostgreSQL are killed with kill -9. Then: the other
node is promoted, the region (never restarted) answers writes again within 30 s, the writes
in between are answered 503, and every zone answered 201 exists on the new primary.
"""
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.faults.region import call, prepare_database, start_web
from tests.ha.patroni import Cluster
from tests.processes import stop, wait_until

CLIENTS = 2
BEFORE_KILL, AFTER_RECOVERY = 5.0, 3.0  # seconds of load
RESUME_WITHIN = 30.0  # seconds from the kill until writes are answered again


@dataclass
class Writes:
    """Zones created through the API: those answered 201, and every other answer's time."""

    base: str
    authorization: str
    created: dict[str, int] = field(default_factory=dict)  # name -> id, answered 201
    successes: list[float] = field(default_factory=list)  # monotonic end of each 201
    failures: list[tuple[float, str]] = field(default_factory=list)  # (time, status)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def client(self, number: int) -> None:
        """POST a new zone, again and again; a failed attempt's name is never reused."""
        attempt = 0
        while not self.stopping.is_set():
            attempt += 1
            name = f"ha-{number}-{attempt}"
            try:
                status, _, text = call(self.base, "POST", "/api/v1/zones/", self.authorization,
                                       {"name": name})
            except OSError as error:
                status, text = type(error).__name__, ""
            with self.lock:
                if status == 201:
                    self.created[name] = json.loads(text)["id"]
                    self.successes.append(time.monotonic())
                else:
                    self.failures.append((time.monotonic(), f"{status} {text[:200]}"))
            time.sleep(0.05 if status == 201 else 0.2)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True)
                   for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        return threads

    def resumed(self, killed: float) -> float | None:
        """Seconds from `killed` to the first 201 after the last failure, if there is one."""
        with self.lock:
            after = max((at for at, _ in self.failures if at >= killed), default=killed)
            later = [at for at in self.successes if at > after]
        return min(later) - killed if later else None


@pytest.mark.integration
def test_primary_killed_standby_promoted_region_resumes_no_acknowledged_write_lost(tmp_path):
    cluster = Cluster()
    web = None
    try:
        cluster.wait_synchronous()
        cluster.create_database("maas")
        url = f"postgres://postgres@{cluster.url_hosts}/maas?target_session_attrs=read-write"
        extra = {"DATABASE_URL": url, "VAR_DIR": str(tmp_path / "var")}
        key = prepare_database(extra)
        web, base = start_web(extra, tmp_path / "web.log", key, workers=2)
        writes = Writes(base, f"Bearer {key}")
        threads = writes.start()
        time.sleep(BEFORE_KILL)

        old = cluster.primary()
        with writes.lock:
            acknowledged = dict(writes.created)  # answered 201 before the kill
        old.kill()
        killed = time.monotonic()
        new = wait_until(lambda: next((n for n in cluster.nodes if n.is_primary()), None),
                         RESUME_WITHIN, cluster.logs)
        promoted = time.monotonic() - killed
        resumed = wait_until(lambda: writes.resumed(killed), RESUME_WITHIN,
                             lambda: f"{writes.failures[-5:]}\n{cluster.logs()}")
        time.sleep(AFTER_RECOVERY)
        writes.stopping.set()
        for thread in threads:
            thread.join(timeout=35)

        print(f"\nprimary {old.name} killed: {new.name} promoted after {promoted:.1f} s, "
              f"writes answered again after {resumed:.1f} s; {len(acknowledged)} writes "
              f"acknowledged before the kill, {len(writes.created)} in all, "
              f"{len(writes.failures)} attempts failed: "
              f"{Counter(f[1].split()[0] for f in writes.failures)}")
        assert new is not old
        assert web.poll() is None, "the region's web server exited"
        assert resumed < RESUME_WITHIN
        assert len(acknowledged) > 10, "too little load before the kill"
        # A write the old primary could not finish is a 503 (retry), never a 500.
        assert {f[1].split()[0] for f in writes.failures} <= {"503"}, writes.failures
        rows = dict(cluster.query(new, "SELECT name, id FROM zones_zone WHERE name LIKE 'ha-%'"))
        missing = {name: id for name, id in writes.created.items() if rows.get(name) != id}
        assert not missing, f"acknowledged writes lost: {missing}"
        assert len(rows) >= len(writes.created) >= len(acknowledged)
    finally:
        if web is not None:
            stop(web)
        cluster.stop()
