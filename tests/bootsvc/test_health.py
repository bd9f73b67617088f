"""bootsvc's per-service states: what a port it cannot bind and DHCP's config leave for rackd."""
import asyncio
import json
import socket

import pytest

from bootsvc.health import ServiceStates, read_service_states, services_path
from bootsvc.service import DhcpManager, EventSink, local_addresses_on
from tests.bootsvc.test_main import credentials, http_answers
from tests.processes import free_tcp_port, free_udp_port, start, stop, wait_until


def test_states_start_as_starting_and_replace_a_file_left_by_an_earlier_run(tmp_path):
    path = services_path(tmp_path)
    path.write_text(json.dumps({"tftp": {"state": "failed", "reason": "old"}}))
    states = ServiceStates(path)
    assert read_service_states(path) == {name: ("starting", "") for name in ("dhcp", "tftp",
                                                                              "http")}
    states.set("tftp", "failed", "x" * 2000)
    state, reason = read_service_states(path)["tftp"]
    assert state == "failed" and len(reason) == 500 and reason.endswith("…")


@pytest.mark.parametrize("text", ["", "[]", "{not json", '{"dhcp": "running"}',
                                  '{"dhcp": {"state": 1}}'])
def test_an_unreadable_or_malformed_file_reports_nothing(tmp_path, text):
    path = services_path(tmp_path)
    path.write_text(text)
    assert read_service_states(path) == {}
    assert read_service_states(tmp_path / "absent.json") == {}


def dhcp_state(tmp_path, subnets: list[dict]) -> tuple[str, str]:
    states = ServiceStates(services_path(tmp_path))
    manager = DhcpManager(tmp_path / "dhcp", lambda leases: None, EventSink(lambda b: None),
                          states)
    asyncio.run(manager.apply({"dhcp": {"subnets": subnets}}))
    return read_service_states(services_path(tmp_path))["dhcp"]


def test_dhcp_is_off_when_the_rack_serves_no_vlan(tmp_path):
    assert dhcp_state(tmp_path, []) == (
        "off", "no VLAN with DHCP on has this rack as its active rack")


def test_dhcp_failed_when_the_rack_has_no_address_on_the_subnets_it_should_serve(tmp_path):
    subnets = [{"cidr": "203.0.113.0/24"}]  # TEST-NET-3
    assert local_addresses_on(subnets) == {}, "this machine is on the test's subnet"
    assert dhcp_state(tmp_path, subnets) == (
        "failed", "no local interface on the subnets to serve: 203.0.113.0/24")


@pytest.mark.integration
def test_a_port_in_use_fails_that_service_only_and_says_why(tmp_path):
    """TFTP's port is taken: HTTP boot still serves; the services file says TFTP failed and why."""
    http_port, tftp_port, log = free_tcp_port(), free_udp_port(), tmp_path / "bootsvc.log"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", tftp_port))
        proc = start(["-m", "bootsvc", "--region-url", f"http://127.0.0.1:{free_tcp_port()}/",
                      "--credentials", credentials(tmp_path), "--http-port", str(http_port),
                      "--tftp-port", str(tftp_port), "--no-dhcp", "--bind", "127.0.0.1"], log,
                     VAR_DIR=str(tmp_path))
        try:
            wait_until(lambda: "boot services up" in log.read_text(), 30, log.read_text)
            states = read_service_states(services_path(tmp_path / "rack"))
            assert states == {
                "http": ("running", ""),
                "tftp": ("failed", f"cannot listen on UDP 127.0.0.1:{tftp_port}: "
                                   "Address already in use"),
                "dhcp": ("off", "turned off on this rack (--no-dhcp)")}
            assert http_answers("127.0.0.1", http_port)
        finally:
            stop(proc)
