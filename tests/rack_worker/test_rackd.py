"""rackd: interfaces, credentials, (re-)registration, child supervision, and end to end."""
import io
import json
import os
import stat
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import pytest
from django.utils import timezone

from bootsvc.health import ServiceStates, services_path
from bootsvc.loaders import LOADERS, LoaderWatch, status_path
from nodes.models import Event
from rack_worker import rackd
from rack_worker.netinfo import _from_ip_json, _from_sysfs, read_interfaces
from tests.processes import PROJECT_DIR, free_tcp_port, process_env, stop, wait_until
from zones.models import RackController
from zones.selectors import rack_status_reason
from zones.services.rackapi import hash_token, rack_secret
from zones.services.racks import rack_status_sweep

IP_JSON = json.dumps([
    {"ifname": "lo", "address": "00:00:00:00:00:00",
     "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "address": "52:54:00:00:00:01",
     "addr_info": [{"family": "inet", "local": "10.0.0.2", "prefixlen": 24},
                   {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]},
    {"ifname": "eth1", "address": "52:54:00:00:00:02", "addr_info": []},
])


def test_interfaces_from_ip_json():
    assert _from_ip_json(IP_JSON) == [
        {"name": "lo", "mac": "00:00:00:00:00:00", "addresses": ["127.0.0.1/8"]},
        {"name": "eth0", "mac": "52:54:00:00:00:01", "addresses": ["10.0.0.2/24", "fe80::1/64"]},
        {"name": "eth1", "mac": "52:54:00:00:00:02", "addresses": []},
    ]


def test_interfaces_of_this_host_with_and_without_ip():
    for interfaces in (read_interfaces(), _from_sysfs()):
        loopback = next(i for i in interfaces if i["name"] == "lo")
        assert "127.0.0.1/8" in loopback["addresses"]


def test_credentials_are_private(tmp_path):
    path = tmp_path / "rack" / "credentials.json"
    assert rackd.load_credentials(path) is None
    rackd.save_credentials(path, {"system_id": "a", "name": "n", "token": "t"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rackd.load_credentials(path)["token"] == "t"
    path.write_text("not json")
    assert rackd.load_credentials(path) is None


def test_a_crashed_child_is_restarted_with_backoff():
    child = rackd.Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    child.start()
    child.process.wait(timeout=10)
    assert child.state == "failed"
    now = time.monotonic()
    child.supervise(now)
    assert child.restart_at == now + 1 and child.failures == 1
    child.supervise(now + 0.5)
    assert child.restart_at == now + 1  # still waiting
    child.supervise(now + 1)
    child.process.wait(timeout=10)
    child.supervise(now + 2)
    assert child.failures == 2 and child.restart_at == now + 4  # backoff doubled


def _args(url: str, **overrides) -> Namespace:
    return rackd.parse_args(["--region-url", url, "--secret", rack_secret(), "--name", "u1",
                             *overrides.get("extra", [])])


@pytest.mark.django_db(transaction=True)
def test_saved_credentials_are_reused_and_re_registered_when_refused(live_server, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    first = rackd.Rackd(_args(live_server.url))
    first.connect()
    saved = rackd.load_credentials(tmp_path / "rack" / "credentials.json")
    assert saved["name"] == "u1" and saved["region_url"] == live_server.url
    rack = RackController.objects.get(name="u1")
    assert rack.token_hash == hash_token(saved["token"]) and rack.status == "dead"
    again = rackd.Rackd(_args(live_server.url))
    again.connect()  # reuses them: a heartbeat, no new registration
    assert again.client.token == saved["token"]
    assert RackController.objects.get(name="u1").status == "running"
    RackController.objects.filter(name="u1").update(token_hash="revoked")
    third = rackd.Rackd(_args(live_server.url))
    third.connect()
    assert third.client.token != saved["token"]
    assert RackController.objects.get(name="u1").token_hash == hash_token(third.client.token)
    assert Event.objects.filter(type="rack_registered", hostname="u1").count() == 2


def _unused_url() -> str:
    return f"http://127.0.0.1:{free_tcp_port()}/"


@pytest.mark.django_db(transaction=True)
def test_rackd_registers_through_the_second_region_and_saves_every_region(
        live_server, tmp_path, monkeypatch, settings):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    dead, live = _unused_url(), live_server.url + "/"
    daemon = rackd.Rackd(_args(f"{dead},{live_server.url}"))
    daemon.connect()
    assert daemon.client.url == live
    saved = rackd.load_credentials(tmp_path / "rack" / "credentials.json")
    assert saved["regions"] == [dead, live]  # the region answered the URL the rack used
    added = _unused_url()
    settings.REGION_URLS = [live, added]  # a region added: the next heartbeat tells the rack
    daemon.heartbeat()
    saved = rackd.load_credentials(tmp_path / "rack" / "credentials.json")
    assert saved["regions"] == [dead, live, added]
    env = daemon.make_children()[0].env
    assert env["RACK_REGION_URL"] == live
    assert env["RACK_REGION_URLS"] == f"{dead},{live},{added}"


@pytest.mark.django_db(transaction=True)
def test_saved_credentials_stay_valid_while_the_region_lists_share_a_url(live_server, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    rackd.Rackd(_args(live_server.url)).connect()
    token = rackd.load_credentials(tmp_path / "rack" / "credentials.json")["token"]
    # Restarted with a region added before the known one: same credentials, no registration.
    again = rackd.Rackd(_args(f"{_unused_url()},{live_server.url}"))
    again.connect()
    assert again.client.token == token
    assert Event.objects.filter(type="rack_registered", hostname="u1").count() == 1
    # A list sharing no URL with the saved one is another deployment: register there.
    other = rackd.Rackd(_args(live_server.url.replace("localhost", "127.0.0.1")))
    other.connect()
    assert other.client.token != token
    assert Event.objects.filter(type="rack_registered", hostname="u1").count() == 2


class RunningChild:
    """A supervised child that is up (what rackd.Child says of a live process)."""

    def __init__(self, name: str):
        self.name, self.state = name, "running"


@pytest.mark.django_db(transaction=True)
def test_missing_boot_loaders_make_the_rack_degraded_with_the_reason_until_installed(
        live_server, tmp_path, monkeypatch):
    """bootsvc's status file -> rackd's heartbeat -> the region's rack status and reason."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    daemon = rackd.Rackd(_args(live_server.url))
    daemon.connect()
    daemon.children = [RunningChild("worker"), RunningChild("bootsvc")]
    status_file = status_path(tmp_path / "rack")
    watch = LoaderWatch(tmp_path / "rack" / "cache", lambda event: None, status_file,
                        root=tmp_path / "root")
    watch.refresh()  # what bootsvc does at start: nothing installed under root
    services, reasons = daemon.health()
    assert services == {"worker": "running", "bootsvc": "degraded"}
    assert "lpxelinux.0 (pxelinux)" in reasons["bootsvc"]
    daemon.heartbeat()
    rack = RackController.objects.get(name="u1")
    assert rack.status == "degraded"
    assert rack_status_reason(rack) == f"bootsvc degraded: {reasons['bootsvc']}"

    for name in ("lpxelinux.0", "ldlinux.c32"):
        source = tmp_path / "root" / LOADERS[name].source.lstrip("/")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(b"loader")
    watch.refresh()  # bootsvc's periodic check
    assert daemon.health() == ({"worker": "running", "bootsvc": "running"}, {})
    daemon.heartbeat()
    rack = RackController.objects.get(name="u1")
    assert (rack.status, rack_status_reason(rack)) == ("running", "")


@pytest.mark.django_db(transaction=True)
def test_each_boot_service_is_reported_and_a_failed_one_degrades_the_rack_with_why(
        live_server, tmp_path, monkeypatch):
    """bootsvc's services file -> rackd's heartbeat -> the region's rack, service by service."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    daemon = rackd.Rackd(_args(live_server.url))
    daemon.connect()
    daemon.children = [RunningChild("worker"), RunningChild("bootsvc")]
    states = ServiceStates(services_path(tmp_path / "rack"))
    states.set("http", "running")
    states.set("dhcp", "off", "turned off on this rack (--no-dhcp)")
    states.set("tftp", "failed", "cannot listen on UDP 0.0.0.0:69: Address already in use")
    daemon.heartbeat()
    rack = RackController.objects.get(name="u1")
    assert rack.services == {"worker": "running", "bootsvc": "running", "http": "running",
                             "dhcp": "off", "tftp": "failed"}
    assert rack.status == "degraded"
    assert rack_status_reason(rack) == (
        "tftp failed: cannot listen on UDP 0.0.0.0:69: Address already in use")

    states.set("tftp", "running")  # the port was freed and bootsvc restarted
    daemon.heartbeat()
    rack = RackController.objects.get(name="u1")
    assert (rack.status, rack.service_reasons) == (
        "running", {"dhcp": "turned off on this rack (--no-dhcp)"})


def test_a_failed_bootsvc_is_failed_whatever_its_status_file_says(tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    status_path(tmp_path / "rack").parent.mkdir(parents=True)
    status_path(tmp_path / "rack").write_text('{"reason": "boot loaders missing: x"}')
    daemon = rackd.Rackd(_args("http://127.0.0.1:9/"))
    daemon.children = [RunningChild("bootsvc")]
    daemon.children[0].state = "failed"
    assert daemon.health() == ({"bootsvc": "failed"}, {})


def test_secret_from_a_file_or_stdin(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret\n")
    args = rackd.parse_args(["--region-url", "http://x/", "--secret-file", str(secret_file)])
    assert args.secret == "s3cret"
    monkeypatch.setattr(sys, "stdin", io.StringIO("piped\n"))
    assert rackd.parse_args(["--region-url", "http://x/", "--secret-file", "-"]).secret == "piped"


def test_unreadable_secret_file_is_a_clear_exit(tmp_path):
    with pytest.raises(SystemExit, match="Cannot read the rack secret"):
        rackd.parse_args(["--region-url", "http://x/", "--secret-file", str(tmp_path / "no")])


def test_rack_secret_leaves_the_environment_so_no_child_inherits_it(monkeypatch):
    monkeypatch.setenv("RACK_SECRET", "from-env")
    args = rackd.parse_args(["--region-url", "http://x/", "--name", "u1"])
    assert args.secret == "from-env" and "RACK_SECRET" not in os.environ
    assert all("RACK_SECRET" not in child.env for child in rackd.Rackd(args).make_children())


def test_bootsvc_is_optional():
    names = [c.name for c in rackd.Rackd(_args("http://x/", extra=["--no-with-bootsvc"]))
             .make_children()]
    assert names == ["worker"]


def test_manage_py_rackd_delegates_to_rackd():
    out = subprocess.run([sys.executable, "manage.py", "rackd", "--help"], cwd=PROJECT_DIR,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert "--region-url" in out.stdout and "--with-bootsvc" in out.stdout


def _start_rackd(url: str, var, log):
    env = process_env()
    env["VAR_DIR"] = str(var)
    secret_file = var.parent / "rack_secret"
    secret_file.write_text(rack_secret())
    return subprocess.Popen(
        [sys.executable, "-m", "rack_worker.rackd", "--region-url", url, "--secret-file",
         str(secret_file), "--name", "t1", "--heartbeat-interval", "1", "--worker-concurrency",
         "1", "--no-with-bootsvc"],
        cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True)


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(c) for t in tasks for c in (t / "children").read_text().split()]


def _running_with_interfaces():
    rack = RackController.objects.filter(name="t1").first()
    return rack if rack and rack.status == "running" and rack.interfaces and (
        rack.services.get("worker") == "running") else None


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_rackd_end_to_end(live_server, tmp_path, settings):
    settings.RACK_DEAD_AFTER = 2
    log_path = tmp_path / "rackd.log"
    with open(log_path, "ab") as log:
        process = _start_rackd(live_server.url, tmp_path / "var", log)
    try:
        rack = wait_until(_running_with_interfaces, 60, log_path.read_text)
        assert any("127.0.0.1/8" in i["addresses"] for i in rack.interfaces)
        creds = tmp_path / "var" / "rack" / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        for pid in [process.pid, *_children(process.pid)]:  # rackd and its worker
            assert rack_secret().encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        stop(process)
    assert process.returncode == 0, log_path.read_text()
    assert "Stopping" in log_path.read_text()
    assert RackController.objects.get(name="t1").status == "running"
    wait_until(lambda: ("t1", "dead") in rack_status_sweep(), 10,
               lambda: f"t1 still {RackController.objects.get(name='t1').status}")
    assert Event.objects.filter(type="rack_status", description__contains="t1 is now dead")
    heartbeat = RackController.objects.get(name="t1").last_heartbeat
    assert (timezone.now() - heartbeat).total_seconds() >= 2
    with open(log_path, "ab") as log:  # started again: reuses its credentials
        process = _start_rackd(live_server.url, tmp_path / "var", log)
    try:
        wait_until(_running_with_interfaces, 60, log_path.read_text)
    finally:
        stop(process)
    assert Event.objects.filter(type="rack_registered", hostname="t1").count() == 1
    assert "Using saved credentials" in log_path.read_text()
