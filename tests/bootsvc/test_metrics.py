"""Rack /metrics: DHCP counters by type and result, transfers, power calls summed over worker
processes, image sync, the HTTP route and who may read it, and bootsvc serving it for real."""
import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bootsvc.dhcp import config as dhcp_config
from bootsvc.dhcp.packet import DISCOVER, RELEASE, REQUEST
from bootsvc.dhcp.server import DhcpServer
from bootsvc.http import BootHttpServer
from bootsvc.metrics import (
    POWER_CALLS,
    FileCounter,
    RackMetrics,
    allowed,
    image_sync_record,
)
from rack_worker import tasks
from tests.bootsvc.dhcp.conftest import SERVER_IP, rack_config
from tests.bootsvc.dhcp.helpers import aton, client_packet
from tests.bootsvc.test_service import running_bootsvc
from tests.maasproject.test_metrics import FAMILIES as REGION_FAMILIES

PROJECT_DIR = Path(__file__).resolve().parents[2]


class FakeTransport:
    def sendto(self, data, addr):
        pass


def families_of(text: str) -> dict:
    """{family: {sorted labels: value}} of an exposition."""
    return {family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples
                          if not s.name.endswith("_created")}
            for family in text_string_to_metric_families(text)}


def scrape(metrics: RackMetrics) -> dict:
    status, body, _ = metrics.answer("", "127.0.0.1")
    assert status == 200
    return families_of(body.decode())


def at(families: dict, family: str, **labels) -> float:
    return families.get(family, {}).get(tuple(sorted(labels.items())), 0.0)


def test_dhcp_packets_by_type_and_result_and_leases(tmp_path):
    server = DhcpServer(dhcp_config.from_json(rack_config(), [SERVER_IP]), None, SERVER_IP)
    server.connection_made(FakeTransport())
    mac = "52:54:00:00:02:01"
    server.datagram_received(client_packet(mac, DISCOVER), ("0.0.0.0", 68))
    server.datagram_received(client_packet(mac, REQUEST, o50=aton("10.0.0.100"),
                                           o54=aton(SERVER_IP)), ("0.0.0.0", 68))
    server.datagram_received(client_packet(mac, REQUEST, o50=aton("10.0.0.100"),
                                           o54=aton("10.0.0.3")), ("0.0.0.0", 68))  # not us
    server.datagram_received(client_packet(mac, RELEASE, ciaddr="10.0.0.100"), ("0.0.0.0", 68))
    server.datagram_received(b"\x01garbage", ("0.0.0.0", 68))
    metrics = RackMetrics(directory=tmp_path)
    metrics.collector.dhcp = SimpleNamespace(servers={"eth1": server})

    got = scrape(metrics)

    packets = "maas_rack_dhcp_packets"
    assert at(got, packets, interface="eth1", type="discover", result="answered") == 1
    assert at(got, packets, interface="eth1", type="request", result="answered") == 1
    assert at(got, packets, interface="eth1", type="request", result="ignored") == 1
    assert at(got, packets, interface="eth1", type="release", result="ignored") == 1
    assert at(got, packets, interface="eth1", type="unknown", result="malformed") == 1
    assert at(got, "maas_rack_dhcp_leases", interface="eth1", state="offered") == 1
    assert at(got, "maas_rack_dhcp_leases", interface="eth1", state="acked") == 1
    events = "maas_rack_dhcp_events"
    assert at(got, events, interface="eth1", counter="dropped_other_server") == 1
    assert at(got, events, interface="eth1", counter="received") == 5


def test_transfers_and_bytes_from_the_boot_events(tmp_path):
    metrics = RackMetrics(directory=tmp_path)
    seen = []
    observe = metrics.transfers.observing(seen.append)
    for event in ({"type": "tftp_file", "bytes": 1000}, {"type": "tftp_file", "bytes": 24},
                  {"type": "http_file", "status": 200, "bytes": 5000, "error": ""},
                  {"type": "http_file", "status": 200, "bytes": 700, "error": "reset"},
                  {"type": "http_file", "status": 404, "bytes": 10, "error": ""},
                  {"type": "dhcp_ack"}):
        observe(event)
    metrics.collector.tftp = SimpleNamespace(broken_transfers=3)

    got = scrape(metrics)

    assert len(seen) == 6  # every event still goes on to the region
    assert at(got, "maas_rack_transfers", protocol="tftp", outcome="complete") == 2
    assert at(got, "maas_rack_transfers", protocol="tftp", outcome="broken") == 3
    assert at(got, "maas_rack_transfers", protocol="http", outcome="complete") == 1
    assert at(got, "maas_rack_transfers", protocol="http", outcome="broken") == 1
    assert at(got, "maas_rack_transfers", protocol="http", outcome="error") == 1
    assert at(got, "maas_rack_transfer_bytes", protocol="tftp") == 1024
    assert at(got, "maas_rack_transfer_bytes", protocol="http") == 5710


def test_power_calls_add_up_over_the_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(POWER_CALLS, "directory", tmp_path)
    monkeypatch.setattr(POWER_CALLS, "_pid", None)
    sent = []
    monkeypatch.setattr(tasks.app, "send_task", lambda name, **kwargs: sent.append(name))
    request = {"system_id": "abc", "action": "on", "power_type": "ipmi", "purpose": "user"}
    tasks.report(tasks.RESULT_TASK, request, state="on")
    tasks.report(tasks.FAILURE_TASK, request, kind="PowerConnError", message="no route")
    # Another pool process's counts, and one that ended: summed, never lost.
    (tmp_path / "power-999999.json").write_text(json.dumps([[["ipmi", "on", "success"], 4]]))
    FileCounter("power", ("driver", "action", "outcome"), tmp_path)  # nothing counted: no file

    got = scrape(RackMetrics(directory=tmp_path))

    assert len(sent) == 2
    calls = "maas_rack_power_calls"
    assert at(got, calls, driver="ipmi", action="on", outcome="success") == 5
    assert at(got, calls, driver="ipmi", action="on", outcome="PowerConnError") == 1


def test_a_counter_file_goes_on_from_its_own_count(tmp_path):
    FileCounter("power", ("driver", "action", "outcome"), tmp_path).inc("redfish", "off", "x")
    again = FileCounter("power", ("driver", "action", "outcome"), tmp_path)  # same pid: restart
    again.inc("redfish", "off", "x")
    got = scrape(RackMetrics(directory=tmp_path))
    assert at(got, "maas_rack_power_calls", driver="redfish", action="off", outcome="x") == 2


def test_image_sync_progress_as_last_reported(tmp_path):
    assert "maas_rack_image_sync_files" in scrape(RackMetrics(directory=tmp_path))  # no sync yet
    image_sync_record({"files_done": 2, "files_total": 5, "bytes_done": 300,
                       "bytes_total": 900, "state": "syncing", "held": {}}, tmp_path)
    got = scrape(RackMetrics(directory=tmp_path))
    assert at(got, "maas_rack_image_sync_files", kind="done") == 2
    assert at(got, "maas_rack_image_sync_files", kind="total") == 5
    assert at(got, "maas_rack_image_sync_bytes", kind="done") == 300
    assert at(got, "maas_rack_image_sync_bytes", kind="total") == 900
    assert at(got, "maas_rack_image_sync_report_timestamp_seconds") > 0


def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize("token", ["", "rack-token"])
def test_the_boot_http_server_answers_metrics_to_whom_it_may(tmp_path, token):
    server = BootHttpServer(str(tmp_path), lambda mac: {}, host="127.0.0.1", port=0,
                            metrics=RackMetrics(directory=tmp_path, token=token),
                            client_close_wait=0)
    url = f"http://127.0.0.1:{server.start()}/metrics"
    try:
        status, body = get(url, token or None)
        assert status == 200 and "maas_rack_transfers" in families_of(body)
        if token:
            assert get(url)[0] == 403
            assert get(url, "wrong")[0] == 403
    finally:
        server.stop()
    assert not allowed("", "", "10.0.0.5") and allowed("", "", "::1")
    assert not allowed("t", "Bearer t ", "127.0.0.1") and allowed("t", "Bearer t", "10.0.0.5")


def test_without_metrics_the_path_is_just_a_missing_file(tmp_path):
    server = BootHttpServer(str(tmp_path), lambda mac: {}, host="127.0.0.1", port=0,
                            client_close_wait=0)
    try:
        assert get(f"http://127.0.0.1:{server.start()}/metrics")[0] == 404
    finally:
        server.stop()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_bootsvc_counts_its_http_and_tftp_transfers_on_its_metrics(live_server, tmp_path):
    with running_bootsvc(live_server, tmp_path) as (http_port, tftp_port, log):
        url = f"http://127.0.0.1:{http_port}/metrics"
        status, body = get(url)
        assert status == 200, log.read_text()
        before = families_of(body)
        assert get(f"http://127.0.0.1:{http_port}/ipxe/boot.ipxe")[0] == 200
        subprocess.run(["curl", "-sf", f"tftp://127.0.0.1:{tftp_port}/grub/grub.cfg"],
                       capture_output=True, timeout=30, check=True)
        after = families_of(get(url)[1])
    for protocol in ("http", "tftp"):
        done = {"protocol": protocol, "outcome": "complete"}
        assert at(after, "maas_rack_transfers", **done) == at(
            before, "maas_rack_transfers", **done) + 1, protocol
        assert at(after, "maas_rack_transfer_bytes", protocol=protocol) > at(
            before, "maas_rack_transfer_bytes", protocol=protocol)
    assert "maas_rack_dhcp_packets" in after and "maas_rack_power_calls" in after



def test_the_grafana_dashboard_uses_only_metrics_that_exist(tmp_path):
    """docs/grafana-dashboard.json: valid JSON whose queries name region or rack families."""
    dashboard = json.loads((PROJECT_DIR / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {re.sub(r"_(total|bucket|count|sum)$", "", name)
            for expr in exprs for name in re.findall(r"\bmaas_[a-z_]+", expr)}
    metrics = RackMetrics(directory=tmp_path)
    image_sync_record({"files_done": 0, "files_total": 0}, tmp_path)
    rack = set(scrape(metrics))
    assert used and used <= rack | REGION_FAMILIES, used - rack - REGION_FAMILIES
