"""Fuzzing: random and mutated datagrams never raise and never stop the server answering."""
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootsvc.dhcp.packet import DISCOVER, OFFER, REQUEST, parse
from tests.bootsvc.dhcp.conftest import (
    CLIENT_IFACE,
    PROJECT_DIR,
    rack_config,
    raw_client,
    subnet_config,
)
from tests.bootsvc.dhcp.helpers import aton, client_packet, make_handler

HANDLER = make_handler(rack_config([subnet_config(
    cidr="10.0.0.0/16", dynamic_ranges=[{"start": "10.0.1.0", "end": "10.0.255.254"}])]))
VALID = [client_packet("52:54:00:00:00:01", DISCOVER, o93=b"\x00\x07", o77=b"iPXE",
                       o82=b"\x01\x02ab", o60=b"PXEClient"),
         client_packet("52:54:00:00:00:02", REQUEST, o50=aton("10.0.0.150"), o54=aton("10.0.0.2"),
                       giaddr="10.0.0.1")]
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))


def still_answers(handler) -> None:
    result = handler.handle(client_packet("52:54:00:00:ff:ff", DISCOVER))
    assert result is not None and parse(result[0]).message_type == OFFER


@FUZZ
@given(st.binary(max_size=1500))
def test_random_bytes_never_raise(data):
    HANDLER.handle(data)
    still_answers(HANDLER)


@FUZZ
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 1499), st.integers(0, 255)),
                                        max_size=12), st.integers(0, 1500))
def test_mutated_valid_packets_never_raise(packet, flips, cut):
    data = bytearray(packet)
    for position, value in flips:
        if position < len(data):
            data[position] = value
    HANDLER.handle(bytes(data[:cut]))
    still_answers(HANDLER)
    assert HANDLER.counters["dropped_error"] == 0


SEND_GARBAGE = """
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())
for i in range(300):
    s.sendto(os.urandom(i * 5 % 1400), ("255.255.255.255", 67))
"""


def test_server_answers_after_garbage_over_a_real_socket(lab, dhcp_server):
    server = dhcp_server()
    result = lab.run(lab.cli, [sys.executable, "-c", SEND_GARBAGE, CLIENT_IFACE],
                     cwd=PROJECT_DIR)
    assert result.returncode == 0, result.stderr
    got = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", "52:54:00:00:03:03")
    assert got["offer"]["yiaddr"] == "10.0.0.100"
    counters = server.counters()
    assert counters["dropped_malformed"] >= 290 and server.proc.poll() is None
