"""perfdhcp against the server: no duplicate addresses, leases survive kill -9 and restart."""
import re
import signal

from bootsvc.dhcp.journal import read_records
from tests.bootsvc.dhcp.conftest import (
    CLIENT_IFACE,
    rack_config,
    raw_client,
    subnet_config,
    tool,
)

BIG = rack_config([subnet_config(cidr="10.0.0.0/16", dynamic_ranges=[
    {"start": "10.0.1.0", "end": "10.0.255.250"}])])


def perfdhcp(lab, rate=500, seconds=3, clients=2000) -> str:
    binary = tool("perfdhcp", "kea-admin")
    result = lab.run(lab.cli, [binary, "-4", "-l", CLIENT_IFACE, "-r", str(rate), "-p",
                               str(seconds), "-R", str(clients)], timeout=seconds + 30)
    assert result.returncode in (0, 3), result.stderr  # 3: some packets dropped
    return result.stdout


def bindings(journal_path) -> dict[str, str]:
    """Replay the journal; fail on an address bound to two MACs at once."""
    by_ip, by_mac = {}, {}
    for record in read_records(str(journal_path)):
        if record[0] == "A":
            _, when, mac, ip, expires, _ = record
            holder = by_ip.get(ip)
            assert holder is None or holder[0] == mac or holder[1] <= when, (
                f"{ip} bound to {holder[0].hex()} and {mac.hex()}")
            if mac in by_mac and by_mac[mac] != ip:
                by_ip.pop(by_mac[mac], None)
            by_ip[ip], by_mac[mac] = (mac, expires), ip
        elif record[0] == "R" and by_mac.get(record[2]) == record[3]:
            del by_mac[record[2]]
            by_ip.pop(record[3], None)
    return {":".join(f"{b:02x}" for b in mac): ip for mac, ip in by_mac.items()}


def test_perfdhcp_no_duplicates_and_leases_survive_kill_9(lab, dhcp_server):
    lab.addr(lab.cli, CLIENT_IFACE, "10.0.0.3/16")
    lab.run(lab.srv, ["ip", "addr", "add", "10.0.0.2/16", "dev", "s0"])
    server = dhcp_server(BIG)
    out = perfdhcp(lab)
    assert re.findall(r"non unique addresses: (\d+)", out) == ["0", "0"], out
    journal = server.state_dir / "leases.journal"
    before = bindings(journal)
    assert len(before) > 500 and len(set(before.values())) == len(before)
    server.kill(signal.SIGKILL)
    server.start()
    for mac in list(before)[:3]:
        got = raw_client(lab, "--iface", CLIENT_IFACE, "--mac", mac, "--request")
        assert got["ack"]["yiaddr"] == _text(before[mac])
    perfdhcp(lab, seconds=2)
    after = bindings(journal)
    assert len(set(after.values())) == len(after)
    for mac, ip in before.items():
        assert after[mac] == ip


def _text(ip: int) -> str:
    return ".".join(str((ip >> s) & 255) for s in (24, 16, 8, 0))
