"""A real DHCP exchange and an HTTP boot transfer across a veth pair, counted on the rack's
/metrics (bootsvc.metrics) served by the same process, as bootsvc wires them."""
import json
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from tests.bootsvc.dhcp.conftest import (
    CLIENT_IFACE,
    PROJECT_DIR,
    SERVER_IFACE,
    rack_config,
    raw_client,
)

HTTP_PORT = 5248
FETCH = ("import sys, urllib.request\n"
         "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())\n")


def fetch_in(lab, ns: str, url: str) -> str:
    result = lab.run(ns, [sys.executable, "-c", FETCH, url], cwd=PROJECT_DIR)
    assert result.returncode == 0, result.stderr
    return result.stdout


def samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_dhcp_exchange_and_a_boot_file_show_on_the_rack_metrics(lab, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(rack_config()))
    cache = tmp_path / "cache"
    (cache / "images").mkdir(parents=True)
    (cache / "images" / "kernel").write_bytes(b"k" * 100_000)
    log = open(tmp_path / "server.log", "w")
    proc = lab.popen(lab.srv, [
        sys.executable, "-m", "tests.bootsvc.rack_metrics_server", "--config",
        str(tmp_path / "config.json"), "--cache-dir", str(cache), "--state-dir",
        str(tmp_path / "state"), "--metrics-dir", str(tmp_path / "metrics"),
        "--http-port", str(HTTP_PORT)], cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=log,
        text=True, env={"BOOTSVC_ANSWER_ROUTER_SOLICITATIONS": "0", "PATH": "/usr/bin:/bin"})
    assert proc.stdout.readline().strip() == "ready", (tmp_path / "server.log").read_text()
    url = f"http://127.0.0.1:{HTTP_PORT}/metrics"  # loopback in the rack's namespace

    got = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", "52:54:00:12:34:99", "--request")
    assert got["ack"]["yiaddr"].startswith("10.0.0.1"), got
    lab.addr(lab.cli, CLIENT_IFACE, "10.0.0.50/24")  # as the booted client would have
    fetch_in(lab, lab.cli, f"http://10.0.0.2:{HTTP_PORT}/images/kernel")
    metrics = samples(fetch_in(lab, lab.srv, url))

    def at(name: str, **labels) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    packets = "maas_rack_dhcp_packets_total"
    assert at(packets, interface=SERVER_IFACE, type="discover", result="answered") == 1
    assert at(packets, interface=SERVER_IFACE, type="request", result="answered") == 1
    assert at("maas_rack_dhcp_leases_total", interface=SERVER_IFACE, state="offered") == 1
    assert at("maas_rack_dhcp_leases_total", interface=SERVER_IFACE, state="acked") == 1
    assert at("maas_rack_transfers_total", protocol="http", outcome="complete") == 1
    assert at("maas_rack_transfer_bytes_total", protocol="http") == 100_000
    # From the client's side of the wire, the rack's metrics are not for it.
    refused = lab.run(lab.cli, [sys.executable, "-c", FETCH, f"http://10.0.0.2:{HTTP_PORT}"
                                "/metrics"], cwd=PROJECT_DIR)
    assert refused.returncode != 0 and "403" in refused.stderr
