"""Protocol tests in network namespaces: udhcpc, dhclient, PXE raw client, relay, live config."""
import os
import time

import pytest

from tests.bootsvc.dhcp.conftest import (
    CLIENT_IFACE,
    SERVER_IP,
    rack_config,
    raw_client,
    subnet_config,
    tool,
)

UDHCPC_SCRIPT = """#!/bin/sh
[ "$1" = bound ] && echo "ip=$ip router=$router dns=$dns lease=$lease mask=$mask" > {out}
exit 0
"""


def udhcpc(lab, tmp_path, extra=()) -> dict:
    binary = tool("udhcpc", "udhcpc")
    out, script = tmp_path / "udhcpc.out", tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT.format(out=out))
    os.chmod(script, 0o755)
    result = lab.run(lab.cli, [binary, "-i", CLIENT_IFACE, "-n", "-q", "-f", "-t", "4",
                               "-s", str(script), *extra], timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(item.split("=", 1) for item in out.read_text().split())


def test_udhcpc_gets_address_router_dns_and_lease_time(lab, dhcp_server, tmp_path):
    dhcp_server()
    got = udhcpc(lab, tmp_path)
    assert got == {"ip": "10.0.0.100", "router": "10.0.0.1", "dns": "10.0.0.1",
                   "lease": "120", "mask": "24"}


def test_dhclient_gets_address_router_dns_and_lease_time(lab, dhcp_server, tmp_path):
    binary = tool("dhclient", "isc-dhcp-client")
    dhcp_server(rack_config(hosts=[{"mac": "02:00:00:00:00:01", "ip": "10.0.0.20",
                                    "hostname": "node1"}]))
    lab.run(lab.cli, ["ip", "link", "set", CLIENT_IFACE, "address", "02:00:00:00:00:01"])
    lease_file = tmp_path / "dhclient.leases"
    result = lab.run(lab.cli, [binary, "-1", "-v", "-lf", str(lease_file), "-pf",
                               str(tmp_path / "dhclient.pid"), "-sf", "/bin/true", CLIENT_IFACE],
                     timeout=60)
    lab.run(lab.cli, [binary, "-x", "-pf", str(tmp_path / "dhclient.pid")])
    assert result.returncode == 0, result.stderr
    lease = lease_file.read_text()
    for line in ("fixed-address 10.0.0.20;", "option routers 10.0.0.1;",
                 "option domain-name-servers 10.0.0.1;", "option dhcp-lease-time 600;",
                 'option host-name "node1";', "option dhcp-server-identifier 10.0.0.2;"):
        assert line in lease, lease


def test_reserved_mac_gets_reserved_address_over_udhcpc(lab, dhcp_server, tmp_path):
    dhcp_server(rack_config(hosts=[{"mac": "02:00:00:00:00:07", "ip": "10.0.0.30"}]))
    lab.run(lab.cli, ["ip", "link", "set", CLIENT_IFACE, "address", "02:00:00:00:00:07"])
    assert udhcpc(lab, tmp_path)["ip"] == "10.0.0.30"


@pytest.mark.parametrize(("args", "file", "vendor"), [
    (["--arch", "0", "--vendor-class", "PXEClient:Arch:00000"], "lpxelinux.0", "PXEClient"),
    (["--arch", "7", "--vendor-class", "PXEClient:Arch:00007"], "bootx64.efi", "PXEClient"),
    (["--arch", "16", "--vendor-class", "HTTPClient:Arch:00016"],
     "http://10.0.0.2:5248/snponly.efi", "HTTPClient"),
    (["--arch", "0", "--user-class", "iPXE"], "lpxelinux.0", "PXEClient"),
    (["--arch", "7", "--user-class", "iPXE"], "http://10.0.0.2:5248/ipxe/boot.ipxe", "PXEClient"),
])
def test_pxe_fields_for_raw_client(lab, dhcp_server, args, file, vendor):
    dhcp_server()
    got = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", "52:54:00:12:34:56", *args,
                     "--request")
    for reply in (got["offer"], got["ack"]):
        opts = reply["options"]
        assert reply["siaddr"] == SERVER_IP and reply["file"] == file
        assert bytes.fromhex(opts["66"]).decode() == SERVER_IP
        assert bytes.fromhex(opts["67"]).decode() == file
        assert bytes.fromhex(opts["60"]).decode() == vendor


def test_relayed_request_is_answered_to_the_relay(lab, dhcp_server):
    relayed = subnet_config(cidr="10.0.1.0/24", gateway="10.0.1.1", reserved_ranges=[],
                            dynamic_ranges=[{"start": "10.0.1.100", "end": "10.0.1.110"}])
    dhcp_server(rack_config([subnet_config(), relayed]))
    lab.addr(lab.cli, CLIENT_IFACE, "10.0.0.50/24")
    lab.addr(lab.cli, CLIENT_IFACE, "10.0.1.1/24")
    lab.route(lab.srv, "10.0.1.0/24", "10.0.0.50")
    got = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", "52:54:00:00:01:01", "--relay",
                     "10.0.1.1", "--server", SERVER_IP, "--agent-info", "0104706f7274")
    assert got["offer_from"] == [SERVER_IP, 67]
    assert got["offer"]["yiaddr"] == "10.0.1.100" and got["offer"]["giaddr"] == "10.0.1.1"
    assert got["offer"]["options"]["82"] == "0104706f7274"


def test_config_file_change_applies_within_two_seconds(lab, dhcp_server):
    server = dhcp_server()
    mac = "52:54:00:00:02:02"
    before = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", mac)
    assert before["offer"]["yiaddr"] == "10.0.0.100"
    server.write_config(rack_config(
        [subnet_config(dynamic_ranges=[{"start": "10.0.0.200", "end": "10.0.0.220"}])],
        hosts=[{"mac": mac, "ip": "10.0.0.40"}]))
    start = time.monotonic()
    while time.monotonic() - start < 2.0:
        got = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", mac, "--timeout", "1")
        if got.get("offer", {}).get("yiaddr") == "10.0.0.40":
            break
    assert got["offer"]["yiaddr"] == "10.0.0.40", got
    other = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", "52:54:00:00:02:03")
    assert other["offer"]["yiaddr"] == "10.0.0.200"
    assert server.counters()["config_updates"] == 1
