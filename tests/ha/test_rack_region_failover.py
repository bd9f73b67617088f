"""A rack whose region dies keeps DHCP and boot serving and fails over to the other region; its
heartbeats go on through that region, so it is never declared dead (issue 17).

Lab: one bridge namespace joins region1 and region2 (gunicorn each, on the test database through
PostgreSQL's unix socket or the SQLite file; a var/ of their own with the same rack secret), the
rack (rackd with its worker, bootsvc and image cache, `--region-url region1,region2`) and a
client running udhcpc; nothing links the lab to the root namespace. The test plays beat: it
sweeps the rack statuses itself (rack_status_sweep) with a short RACK_DEAD_AFTER.

Two faults of region1, each right after a heartbeat it answered:
- kill -9 of its web server (every process of the group): connections are refused, and the
  rack's client moves on to region2 in the same call;
- SIGSTOP (a host that hangs): its kernel still accepts connections and takes the requests, but
  nothing answers, so each call waits for the client's timeout (rackd's --timeout, 10 s by
  default; bootsvc's 10 s) before it goes to region2. A heartbeat is then at most
  --heartbeat-interval + --timeout late: 20 s with the defaults, under the 30 s of
  RACK_DEAD_AFTER (test_the_default_timeouts_fail_over_before_the_rack_is_dead).

Then heartbeats arrive through region2 and the rack is not declared dead for RACK_DEAD_AFTER + 3
seconds, a new client gets a lease whose report reaches the database through region2, and the
rack's HTTP boot server answers that client's per-MAC iPXE script with region2's decision
(`metal.region=` names region2). Each fault reports how long after it the next heartbeat was
recorded (through region2).
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from bootsvc.region import RegionClient
from rack_worker import rackd
from tests.factories import FabricFactory, IPRangeFactory, SubnetFactory, VLANFactory
from tests.namespaced import bridged_hosts, namespace_env, udhcpc_lease, udhcpc_netlab
from tests.netlab import NetLab
from tests.processes import PROJECT_DIR, wait_until
from zones.models import VLAN, DHCPLease, RackController
from zones.services.rackapi import rack_secret
from zones.services.racks import rack_status_sweep

REGION1, REGION2, RACK, CLIENT = "10.99.17.1", "10.99.17.2", "10.99.17.3", "client"
REGION_URLS = {"region1": f"http://{REGION1}:5240/", "region2": f"http://{REGION2}:5240/"}
RACK_NAME = "ha-rack"
HEARTBEAT = 1.0  # rackd --heartbeat-interval (10 s in production)
AFTER_DEAD = 3.0  # seconds past RACK_DEAD_AFTER the rack is watched
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=40)" \
        ".read().decode())"
# Waits until a URL answers anything HTTP (a region's worker is up), at most 60 s.
ANSWERS = """import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + 60
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=5)
        break
    except urllib.error.HTTPError:
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.2)
"""
HEARTBEAT_POST = '"POST /api/v1/rack/heartbeat/'


def default_timeout() -> float:
    """rackd's --timeout when not given (what a production rack uses)."""
    return rackd.parse_args(["--region-url", "http://region/", "--secret", "x"]).timeout


# --- Without a lab: the client's side of a hung region --------------------------------------

class _Answer(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"status": "running", "regions": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_region_that_accepts_but_never_answers_is_failed_over_after_the_timeout():
    hung = socket.socket()  # listens, so the kernel accepts; nobody ever reads or answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    live = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=live.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        urls = [f"http://127.0.0.1:{hung.getsockname()[1]}/",
                f"http://127.0.0.1:{live.server_address[1]}/"]
        client = RegionClient(urls, "rack1", "token", timeout=0.5, retries=0)
        started = time.monotonic()
        assert client.heartbeat([], {})["status"] == "running"
        assert 0.5 <= time.monotonic() - started < 3
        assert client.url == urls[1]  # kept: the next call goes straight there
    finally:
        live.shutdown()
        live.server_close()
        hung.close()


def test_the_default_timeouts_fail_over_before_the_rack_is_dead():
    """With a hung region a heartbeat comes at most interval + timeout after the previous one,
    which must leave the region's default RACK_DEAD_AFTER (30 s) a margin."""
    args = rackd.parse_args(["--region-url", "http://region/", "--secret", "x"])
    assert args.heartbeat_interval + args.timeout <= 30 - 10


# --- The lab --------------------------------------------------------------------------------

@pytest.fixture
def lab():
    with udhcpc_netlab("rf") as net:
        yield net


def build_network(lab) -> dict[str, str]:
    """Namespaces region1, region2, rack and client on one bridge; returns their names."""
    return bridged_hosts(lab, [("region1", REGION1), ("region2", REGION2), ("rack", RACK),
                               (CLIENT, None)])


def start_region(lab: NetLab, names: dict, tmp_path, name: str, secret: str):
    """gunicorn on region `name`'s address; (process, its log, its access log)."""
    var = tmp_path / name
    var.mkdir()
    (var / "rack_secret").write_text(secret)  # the same secret on every region, as deployed
    os.chmod(var / "rack_secret", 0o600)
    log, access = tmp_path / f"{name}.log", tmp_path / f"{name}-access.log"
    address = REGION1 if name == "region1" else REGION2
    # No Redis either (unreachable too): the filesystem broker and cache under VAR_DIR.
    env = namespace_env(CELERY_BROKER_URL="", VAR_DIR=str(var),
                        SECRET_KEY=django_settings.SECRET_KEY,
                        REGION_URLS=",".join(REGION_URLS.values()))
    process = lab.popen(names[name], [sys.executable, "-m", "gunicorn", "maasproject.wsgi",
                                      "-b", f"{address}:5240", "-w", "1", "--threads", "4",
                                      "--access-logfile", str(access)],
                        cwd=PROJECT_DIR, env=env, stdout=open(log, "wb"), stderr=-2)
    return process, log, access


def start_rackd(lab: NetLab, names: dict, tmp_path, secret: str):
    """rackd (worker, bootsvc, image cache) in the rack namespace, region1 first; (process,
    its log, which its children write to too)."""
    log = tmp_path / "rackd.log"
    env = namespace_env(CELERY_BROKER_URL="", VAR_DIR=str(tmp_path / "rack"),
                        RACK_SECRET=secret)
    process = lab.popen(names["rack"], [
        sys.executable, "-m", "rack_worker.rackd", "--region-url", ",".join(REGION_URLS.values()),
        "--name", RACK_NAME, "--heartbeat-interval", str(HEARTBEAT), "--worker-concurrency", "1"],
        cwd=PROJECT_DIR, env=env, stdout=open(log, "wb"), stderr=-2, stdin=subprocess.DEVNULL)
    return process, log


def boot_script(lab: NetLab, ns: str, mac: str) -> str:
    """The per-MAC iPXE script the rack's HTTP boot server answers (from the region's decision)."""
    url = f"http://{RACK}:5248/ipxe/{mac.replace(':', '-')}.ipxe"
    result = lab.run(ns, [sys.executable, "-c", FETCH, url], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def lease_recorded(mac: str, ip: str) -> bool:
    return DHCPLease.objects.filter(mac=mac, ip=ip, state="active").exists()


def last_heartbeat() -> datetime | None:
    rack = RackController.objects.filter(name=RACK_NAME).first()
    return rack.last_heartbeat if rack else None


class Beat(threading.Thread):
    """Plays beat: sweeps the rack statuses every 0.2 s, keeping every heartbeat time seen and
    every status the rack was given."""

    def __init__(self):
        super().__init__(daemon=True)
        self.done = threading.Event()
        self.heartbeats: list[datetime] = []
        self.statuses: list[tuple[datetime, str]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.done.wait(0.2):
                changes = rack_status_sweep()
                self.statuses += [(timezone.now(), status)
                                  for name, status in changes if name == RACK_NAME]
                heartbeat = last_heartbeat()
                if heartbeat and (not self.heartbeats or heartbeat != self.heartbeats[-1]):
                    self.heartbeats.append(heartbeat)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            connection.close()  # else the test database cannot be dropped at teardown

    def after(self, moment: datetime) -> list[datetime]:
        return [heartbeat for heartbeat in self.heartbeats if heartbeat > moment]

    def longest_gap(self, last_before: datetime, since: datetime) -> float:
        """Seconds of the longest wait between two heartbeats, from `last_before` on."""
        times = [last_before, *self.after(since)]
        return max((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))


def count(path, text: str) -> int:
    try:
        return path.read_text(errors="replace").count(text)
    except OSError:
        return 0


FAULTS = {"kill-9": signal.SIGKILL, "sigstop": signal.SIGSTOP}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", FAULTS)
def test_rack_keeps_serving_and_heartbeating_when_its_region_dies(lab, tmp_path, settings,
                                                                  fault):
    # kill -9: refused at once; SIGSTOP: each call waits for the client's timeout first.
    dead_after = 5.0 if fault == "kill-9" else HEARTBEAT + default_timeout() + 4
    settings.RACK_DEAD_AFTER = dead_after
    started = time.monotonic()
    names = build_network(lab)
    secret = rack_secret()
    vlan = VLANFactory(fabric=FabricFactory(), vid=0)
    subnet = SubnetFactory(vlan=vlan, cidr="10.99.17.0/24", allow_enlistment=True)
    IPRangeFactory(subnet=subnet, start_ip="10.99.17.100", end_ip="10.99.17.150")
    regions = {name: start_region(lab, names, tmp_path, name, secret) for name in REGION_URLS}
    region1, _, region1_access = regions["region1"]
    region2_access = regions["region2"][2]
    rack_process = rack_log = None
    beat = Beat()

    def everything() -> str:
        paths = [path for path in (rack_log, *(r[1] for r in regions.values()), region2_access)
                 if path is not None]
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                         for path in paths)

    try:
        for name, url in REGION_URLS.items():  # both up before the rack asks either
            answered = lab.run(names["rack"], [sys.executable, "-c", ANSWERS, url + "healthz"],
                               timeout=90)
            assert answered.returncode == 0, f"{name} does not answer\n" + everything()
        rack_process, rack_log = start_rackd(lab, names, tmp_path, secret)
        rack = wait_until(lambda: RackController.objects.filter(name=RACK_NAME).first(), 60,
                          everything)
        VLAN.objects.filter(pk=vlan.pk).update(dhcp_on=True, primary_rack=rack)
        wait_until(lambda: "DHCP listening" in rack_log.read_text(), 60, everything)
        mac1, mac2 = "02:00:00:00:17:01", "02:00:00:00:17:02"
        ip1, server = udhcpc_lease(lab, names[CLIENT], tmp_path, mac1, take_address=True)
        assert server == RACK
        assert f"metal.region={REGION_URLS['region1']}" in boot_script(lab, names[CLIENT], mac1)
        wait_until(lambda: lease_recorded(mac1, ip1), 30, everything)
        assert count(region1_access, HEARTBEAT_POST) and not count(region2_access,
                                                                   HEARTBEAT_POST)
        beat.start()

        # Right after a heartbeat region1 answered: no heartbeat of the rack is in its hands
        # (a SIGSTOPped region would keep the rack's row locked until it is killed).
        previous, deadline = last_heartbeat(), time.monotonic() + 10
        while (last_before := last_heartbeat()) == previous:
            assert time.monotonic() < deadline, everything()
            time.sleep(0.05)
        os.killpg(region1.pid, FAULTS[fault])
        faulted, faulted_at = time.monotonic(), timezone.now()
        ready = faulted - started

        ip2, server = udhcpc_lease(lab, names[CLIENT], tmp_path, mac2, take_address=True)
        dhcp_after = time.monotonic() - faulted
        assert server == RACK and ip2 != ip1
        script = boot_script(lab, names[CLIENT], mac2)
        boot_after = time.monotonic() - faulted
        assert f"metal.region={REGION_URLS['region2']}" in script, script
        wait_until(lambda: lease_recorded(mac2, ip2), 30, everything)
        lease_after = time.monotonic() - faulted

        end = faulted + dead_after + AFTER_DEAD
        while time.monotonic() < end:
            assert beat.is_alive(), beat.error
            time.sleep(0.2)
        beat.done.set()
        beat.join(10)
        assert beat.error is None, beat.error
        assert rack_process.poll() is None, everything()
        assert not any(status == "dead" for _, status in beat.statuses), (beat.statuses,
                                                                          everything())
        assert RackController.objects.get(name=RACK_NAME).status != "dead"
        assert beat.after(faulted_at), everything()
        failover = (beat.after(faulted_at)[0] - faulted_at).total_seconds()
        gap = beat.longest_gap(last_before, faulted_at)
        # Heartbeats kept coming, every one after the fault through region2.
        beats_after = len(beat.after(faulted_at))
        assert beats_after >= (dead_after + AFTER_DEAD - failover) / (2 * HEARTBEAT), beats_after
        assert count(region2_access, HEARTBEAT_POST) >= beats_after - 1
        assert f"Region {REGION_URLS['region1']} unavailable" in rack_log.read_text()
        assert gap < dead_after, (gap, beat.heartbeats)
        if fault == "sigstop":  # the heartbeat waited for its timeout, not for a refusal
            assert failover > default_timeout() / 2, failover
        print(f"\n{fault}: lab ready in {ready:.1f}s; next heartbeat (through region2) "
              f"{failover:.2f}s after the fault, longest heartbeat gap {gap:.2f}s "
              f"(RACK_DEAD_AFTER {dead_after:g}s); new lease from the rack after "
              f"{dhcp_after:.1f}s, recorded through region2 after {lease_after:.1f}s; per-MAC "
              f"boot script from region2 after {boot_after:.1f}s; test "
              f"{time.monotonic() - started:.1f}s")
    finally:
        beat.done.set()
        if beat.is_alive():
            beat.join(10)
        if region1.poll() is None:  # a stopped region: let it go, then kill it (its locks)
            os.killpg(region1.pid, signal.SIGCONT)
        for process, _, _ in regions.values():
            lab.kill(process, sig=signal.SIGKILL)
        if rack_process is not None:
            lab.kill(rack_process)
