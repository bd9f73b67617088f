"""DhcpServer: batched event/lease callbacks, update_config, counters, journal durability."""
import asyncio
import threading

from bootsvc.dhcp import config as dhcp_config
from bootsvc.dhcp.batching import Batcher
from bootsvc.dhcp.packet import DISCOVER, REQUEST
from bootsvc.dhcp.server import DhcpServer
from tests.bootsvc.dhcp.conftest import SERVER_IP, rack_config
from tests.bootsvc.dhcp.helpers import aton, client_packet


class FakeTransport:
    """Collects what the server sends."""

    def __init__(self):
        self.sent = []

    def sendto(self, data, addr):
        self.sent.append((data, addr))


def test_server_reports_leases_and_events_in_batches(tmp_path):
    leases, events, threads = [], [], set()

    def report(batch):  # synchronous: must run outside the event loop thread
        threads.add(threading.get_ident())
        leases.extend(batch)

    async def on_events(batch):
        events.append(batch)

    async def scenario():
        server = DhcpServer(dhcp_config.from_json(rack_config(), [SERVER_IP]), None, SERVER_IP,
                            state_dir=str(tmp_path), report=report, events=on_events)
        server.connection_made(FakeTransport())
        for i in range(20):
            mac = f"52:54:00:00:01:{i:02x}"
            server.datagram_received(client_packet(mac, DISCOVER), ("0.0.0.0", 68))
            offered = f"10.0.0.{100 + i}"
            server.datagram_received(client_packet(mac, REQUEST, o50=aton(offered),
                                                   o54=aton(SERVER_IP)), ("0.0.0.0", 68))
        assert len(server.transport.sent) == 40 and not leases  # nothing delivered inline
        await server.lease_batcher.flush()
        await server.event_batcher.flush()
        assert server.counters["acks"] == 20
        return server

    server = asyncio.run(scenario())
    assert threading.get_ident() not in threads
    assert [x["ip"] for x in leases] == [f"10.0.0.{100 + i}" for i in range(20)]
    assert leases[0]["state"] == "active" and leases[0]["mac"] == "52:54:00:00:01:00"
    kinds = [e["type"] for batch in events for e in batch]
    assert kinds[:3] == ["dhcp_discover", "dhcp_offer", "dhcp_ack"] and len(kinds) == 60
    assert server.leases.journal.records == 20


def test_batcher_keeps_newest_state_per_key_and_survives_callback_errors():
    calls = []

    async def flaky(batch):
        calls.append(batch)
        if len(calls) == 1:
            raise RuntimeError("region down")

    batcher = Batcher(flaky, key=lambda item: item[0], max_batch=2)
    for item in [("a", 1), ("b", 1), ("a", 2), ("c", 1)]:
        batcher.add(item)
    asyncio.run(batcher.flush())
    assert calls == [[("a", 2), ("b", 1)], [("c", 1)]] and batcher.failures == 1
