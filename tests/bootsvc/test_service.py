"""bootsvc as a process: boot files and configs rendered from the region's live decisions,
and every file served recorded on the machine's boot timeline in the region.
"""
import asyncio
import json
import subprocess
import urllib.request
from contextlib import contextmanager

import pytest

from bootsvc.loaders import LOADERS, LoaderWatch, read_status_reason
from bootsvc.service import EventSink
from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from tests.factories import InterfaceFactory, MachineFactory
from tests.processes import free_tcp_port, free_udp_port, start, stop, wait_until
from zones.services.rackapi import rack_register, rack_secret

MAC = "52:54:00:be:ef:01"


@contextmanager
def running_bootsvc(live_server, tmp_path, **env):
    """A registered rack's bootsvc on loopback ports (no DHCP); yields (http, tftp, log)."""
    rack, token = rack_register(rack_secret(), "boot-rack", "1", [])
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"system_id": rack.system_id, "token": token}))
    http_port, tftp_port, log = free_tcp_port(), free_udp_port(), tmp_path / "bootsvc.log"
    proc = start(["-m", "bootsvc", "--region-url", live_server.url, "--credentials",
                  str(credentials), "--http-port", str(http_port), "--tftp-port",
                  str(tftp_port), "--no-dhcp"], log, VAR_DIR=str(tmp_path / "var"), **env)
    try:
        wait_until(lambda: "boot services up" in log.read_text(), 30, log.read_text)
        yield http_port, tftp_port, log
    finally:
        stop(proc)


@pytest.fixture
def bootsvc(live_server, tmp_path):
    with running_bootsvc(live_server, tmp_path) as ports_and_log:
        yield ports_and_log


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_boot_configs_follow_the_region_and_fill_the_timeline(bootsvc):
    http_port, tftp_port, log = bootsvc
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    InterfaceFactory(machine=machine, mac_address=MAC)

    script = fetch(f"http://127.0.0.1:{http_port}/ipxe/{MAC.replace(':', '-')}.ipxe")
    assert f"metal.system_id={machine.system_id}" in script
    assert f"http://127.0.0.1:{http_port}/images/ephemeral/amd64/linux" in script
    pxe = subprocess.run(  # curl is one of the Makefile's SYSTEM_PACKAGES
        ["curl", "-sf", f"tftp://127.0.0.1:{tftp_port}/pxelinux.cfg/01-52-54-00-be-ef-01"],
        capture_output=True, text=True, timeout=30, check=True).stdout
    assert "images/ephemeral/amd64/initrd.gz" in pxe and machine.system_id in pxe
    wait_until(lambda: Event.objects.filter(machine=machine, type="http_file").exists(), 30,
               log.read_text)
    timeline = set(Event.objects.filter(machine=machine).values_list("type", flat=True))
    assert {"boot_decision", "http_file"} <= timeline

    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED, netboot=False)
    wait_until(lambda: "metal.system_id" not in fetch(
        f"http://127.0.0.1:{http_port}/ipxe/{MAC.replace(':', '-')}.ipxe"), 30, log.read_text)


def test_event_sink_names_address_only_events_from_dhcp_leases():
    """Kernels and loaders are fetched by address: the lease names the machine, or nothing."""
    posted = []
    sink = EventSink(posted.extend, mac_for_ip={"10.0.0.5": MAC}.get)
    sink.add({"client": "10.0.0.5", "type": "http_file", "path": "images/x/linux"})
    sink.add({"client": "10.0.0.9", "type": "http_file", "path": "images/x/linux"})
    sink.add({"mac": "52:54:00:00:00:09", "type": "dhcp_offer"})
    asyncio.run(sink.flush())
    assert [(e["mac"], e["type"]) for e in posted] == [(MAC, "http_file"),
                                                       ("52:54:00:00:00:09", "dhcp_offer")]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_loaders_installed_while_bootsvc_runs_are_served_without_a_restart(live_server,
                                                                           tmp_path):
    """No pxelinux at start: TFTP says file not found, the log and the status file say which
    package; installed afterwards, the next request is served and the status clears."""
    root, status = tmp_path / "root", tmp_path / "var" / "rack" / "bootsvc-status.json"
    with running_bootsvc(live_server, tmp_path, BOOTSVC_LOADER_ROOT=str(root),
                         BOOTSVC_LOADER_INTERVAL="0.5") as (_, tftp_port, log):
        assert "lpxelinux.0 (pxelinux)" in read_status_reason(status)
        url = f"tftp://127.0.0.1:{tftp_port}/lpxelinux.0"
        missing = subprocess.run(["curl", "-s", url], capture_output=True, timeout=30)
        assert missing.returncode != 0 and missing.stdout == b""
        wait_until(lambda: "install the Debian package pxelinux" in log.read_text(), 10,
                   log.read_text)
        for name in ("lpxelinux.0", "ldlinux.c32"):  # apt-get install pxelinux syslinux-common
            source = root / LOADERS[name].source.lstrip("/")
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(name.encode() * 1000)
        served = subprocess.run(["curl", "-sf", url], capture_output=True, timeout=30)
        assert served.returncode == 0 and served.stdout == b"lpxelinux.0" * 1000
        wait_until(lambda: read_status_reason(status) == "", 10, status.read_text)


def test_a_missing_boot_file_reaches_the_region_under_the_mac_leased_that_address(tmp_path):
    posted = []
    sink = EventSink(posted.extend, mac_for_ip={"10.0.0.5": MAC}.get)
    watch = LoaderWatch(tmp_path / "cache", sink.add, tmp_path / "status.json",
                        root=tmp_path / "root")
    assert watch.on_miss("lpxelinux.0", "10.0.0.5", "TFTP") is False
    asyncio.run(sink.flush())
    [event] = posted
    assert (event["mac"], event["type"], event["path"]) == (MAC, "boot_file_missing",
                                                            "lpxelinux.0")
    assert "install the Debian package pxelinux" in event["description"]
