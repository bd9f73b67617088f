"""bootsvc.ra against an independent peer: ndisc6's rdisc6 solicits, our answer says "no router"."""
import json
import shutil
import sys
import time

import pytest

from bootsvc.ra import ADVERTISEMENT, is_solicitation
from tests.netlab import NetLab, unavailable_reason
from tests.processes import PROJECT_DIR, skip_or_fail, wait_until

ANSWERER = """
import asyncio, json, sys
from bootsvc.ra import SolicitationAnswerer

async def main():
    answerer = SolicitationAnswerer("s0")
    await answerer.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    answerer.stop()
    print(json.dumps(answerer.counters), flush=True)

asyncio.run(main())
"""

BAD_SOLICITATION = """
import socket
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
sock.sendto(bytes([133, 1, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, socket.if_nametoindex("c0")))
"""


def test_advertisement_says_no_router_no_prefixes_no_dhcpv6():
    # type 134, then hop limit, flags (M, O), router lifetime, reachable, retransmit all zero
    assert ADVERTISEMENT[0] == 134 and len(ADVERTISEMENT) == 16
    assert set(ADVERTISEMENT[4:]) == {0}


@pytest.mark.parametrize(("data", "expected"), [
    (bytes([133, 0, 0, 0, 0, 0, 0, 0]), True),
    (bytes([133, 1, 0, 0, 0, 0, 0, 0]), False),  # code must be 0
    (bytes([133, 0, 0]), False),  # truncated
    (bytes([128, 0, 0, 0, 0, 0, 0, 0]), False),  # echo request
])
def test_only_well_formed_solicitations_are_answered(data, expected):
    assert is_solicitation(data) is expected


@pytest.fixture
def lab():
    reason = unavailable_reason() or (None if shutil.which("rdisc6") else
                                      "rdisc6 is missing (apt-get install -y ndisc6)")
    if reason:
        skip_or_fail(reason)
    with NetLab("ra") as net:
        srv, cli = net.netns("srv"), net.netns("cli")
        for ns in (srv, cli):  # link-local addresses usable at once (no duplicate detection)
            net.run(ns, ["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0",
                         "net.ipv6.conf.all.accept_dad=0"]).check_returncode()
        net.veth(srv, "s0", cli, "c0")
        for ns, iface in ((srv, "s0"), (cli, "c0")):
            wait_until(lambda ns=ns, iface=iface: "fe80::" in net.run(
                ns, ["ip", "-6", "addr", "show", "dev", iface]).stdout, 10,
                lambda: "no IPv6 link-local address (IPv6 disabled?)")
        yield net, srv, cli


def test_rdisc6_gets_an_advertisement_with_router_lifetime_zero(lab):
    net, srv, cli = lab
    proc = net.popen(srv, [sys.executable, "-c", ANSWERER], cwd=PROJECT_DIR, text=True,
                     stdin=-1, stdout=-1)
    assert proc.stdout.readline().strip() == "ready"
    # A malformed solicitation (code 1) is dropped and counted; serving goes on.
    net.run(cli, [sys.executable, "-c", BAD_SOLICITATION], timeout=10).check_returncode()
    started = time.monotonic()
    got = net.run(cli, ["rdisc6", "-1", "-r", "3", "-w", "1000", "c0"], timeout=15)
    elapsed = time.monotonic() - started
    proc.stdin.write("\n")
    proc.stdin.flush()
    counters = json.loads(proc.stdout.readline())
    assert got.returncode == 0, got.stdout + got.stderr
    fields = {key.strip(): value.split()[0] for key, value in
              (line.split(":", 1) for line in got.stdout.splitlines() if ":" in line)}
    assert fields["Router lifetime"] == "0", got.stdout
    assert fields["Stateful address conf."] == "No", got.stdout
    assert fields["Stateful other conf."] == "No", got.stdout
    assert "Prefix" not in got.stdout and "from fe80::" in got.stdout
    assert elapsed < 2.0
    assert counters["solicitations"] >= 1 and counters["advertisements"] >= 1
    assert counters["dropped"] >= 1 and counters["errors"] == 0, counters
