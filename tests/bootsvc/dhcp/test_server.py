"""DhcpServer: batched event/lease callbacks, update_config, counters, journal durability."""
import asyncio
import threading

from bootsvc.dhcp import config as dhcp_config
from bootsvc.dhcp.batching import Batcher
from bootsvc.dhcp.packet import DISCOVER, REQUEST
from bootsvc.dhcp.server import DhcpServer
from tests.bootsvc.dhcp.conftest import SERVER_IP, rack_config
from tests.bootsvc.dhcp.helpers import aton, client_packet


async def settled(condition, timeout: float = 5.0) -> None:
    """Let the loop run until condition() holds (fsyncs end in their thread)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def new_server(tmp_path) -> DhcpServer:
    return DhcpServer(dhcp_config.from_json(rack_config(), [SERVER_IP]), None, SERVER_IP,
                      state_dir=str(tmp_path))


class FakeTransport:
    """Collects what the server sends."""

    def __init__(self):
        self.sent = []

    def sendto(self, data, addr):
        self.sent.append((data, addr))

    def close(self):
        pass


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
        assert not leases  # nothing delivered inline
        await settled(lambda: len(server.transport.sent) == 40)  # ACKs after their fsyncs
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


class JournalCheckingTransport(FakeTransport):
    """Records, at each send, whether the journal still had lines not fsynced."""

    def __init__(self, server):
        super().__init__()
        self.server, self.unsynced_at_send = server, []

    def sendto(self, data, addr):
        journal = self.server.leases.journal
        self.unsynced_at_send.append(journal.dirty)
        self.journal_lines = open(journal.path, "rb").read().count(b"\nA ") + 1
        super().sendto(data, addr)


def test_a_batch_of_requests_is_fsynced_once_before_any_ack_leaves(tmp_path):
    """Group commit: one readiness event's 20 REQUESTs, one fsync, then the 20 ACKs."""
    server = new_server(tmp_path)
    macs = [f"52:54:00:00:02:{i:02x}" for i in range(20)]
    server.connection_made(FakeTransport())
    server.answer([client_packet(mac, DISCOVER) for mac in macs])
    assert len(server.transport.sent) == 20 and server.counters["journal_syncs"] == 0
    checking = JournalCheckingTransport(server)
    server.connection_made(checking)
    server.answer([client_packet(mac, REQUEST, o50=aton(f"10.0.0.{100 + i}"),
                                 o54=aton(SERVER_IP)) for i, mac in enumerate(macs)])
    assert server.counters["acks"] == 20 and len(checking.sent) == 20
    assert server.counters["journal_syncs"] == 1
    assert checking.unsynced_at_send == [False] * 20
    assert checking.journal_lines == 20  # every lease written before the first ACK left


def test_interval_sync_leaves_the_fsync_to_housekeeping(tmp_path):
    server = DhcpServer(dhcp_config.from_json(rack_config(), [SERVER_IP]), None, SERVER_IP,
                        state_dir=str(tmp_path), sync_before_reply=False)
    server.connection_made(FakeTransport())
    mac = "52:54:00:00:03:01"
    server.answer([client_packet(mac, DISCOVER)])
    server.answer([client_packet(mac, REQUEST, o50=aton("10.0.0.100"), o54=aton(SERVER_IP))])
    assert server.counters["acks"] == 1 and server.counters["journal_syncs"] == 0
    assert server.leases.journal.dirty


def test_in_the_loop_acks_wait_for_the_fsync_thread_and_offers_do_not(tmp_path):
    """The loop hands the fsync to its thread and goes on; the ACKs leave when it is done."""
    server = new_server(tmp_path)
    macs = [f"52:54:00:00:04:{i:02x}" for i in range(10)]
    fsynced_lines = []
    fsync = server.leases.journal.fsync

    def observed_fsync():  # what the file holds when the fsync runs, in the sync thread
        fsynced_lines.append(open(server.leases.journal.path, "rb").read().count(b"\n"))
        fsync()

    server.leases.journal.fsync = observed_fsync

    async def scenario():
        server.connection_made(JournalCheckingTransport(server))
        server.answer([client_packet(mac, DISCOVER) for mac in macs])
        assert len(server.transport.sent) == 10  # offers write nothing: sent at once
        server.answer([client_packet(mac, REQUEST, o50=aton(f"10.0.0.{100 + i}"),
                                     o54=aton(SERVER_IP)) for i, mac in enumerate(macs)])
        assert len(server.transport.sent) == 10  # the ACKs wait for the fsync
        await settled(lambda: len(server.transport.sent) == 20)
        await server.stop()

    asyncio.run(scenario())
    assert len(server.transport.sent) == 20 and server.counters["journal_syncs"] == 1
    assert fsynced_lines == [10]  # all ten leases were in the file the fsync made durable


def requests(macs: list[str], first: int) -> list[bytes]:
    return [client_packet(mac, REQUEST, o50=aton(f"10.0.0.{first + i}"), o54=aton(SERVER_IP))
            for i, mac in enumerate(macs)]


def test_fsyncs_start_at_most_once_per_window_and_cover_every_batch_in_it(tmp_path, monkeypatch):
    """A disk that fsyncs faster than packets arrive would otherwise get one fsync per lease:
    batches arriving within the window after an fsync started share the next one."""
    monkeypatch.setattr("bootsvc.dhcp.server.GROUP_COMMIT_WINDOW", 0.5)
    server = new_server(tmp_path)
    macs = [f"52:54:00:00:05:{i:02x}" for i in range(30)]

    async def scenario():
        server.connection_made(JournalCheckingTransport(server))
        server.answer([client_packet(mac, DISCOVER) for mac in macs])
        server.answer(requests(macs[:10], 100))  # the first fsync starts at once
        await settled(lambda: len(server.transport.sent) == 40)
        server.answer(requests(macs[10:20], 110))
        server.answer(requests(macs[20:], 120))
        await asyncio.sleep(0.2)
        assert len(server.transport.sent) == 40  # the window is still open
        await settled(lambda: len(server.transport.sent) == 60)
        await server.stop()

    asyncio.run(scenario())
    assert server.counters["acks"] == 30 and server.counters["journal_syncs"] == 2
    assert server.transport.unsynced_at_send == [False] * 60


def test_stopping_sends_the_acks_waiting_for_the_window_after_their_fsync(tmp_path, monkeypatch):
    monkeypatch.setattr("bootsvc.dhcp.server.GROUP_COMMIT_WINDOW", 60.0)
    server = new_server(tmp_path)
    macs = [f"52:54:00:00:06:{i:02x}" for i in range(4)]

    async def scenario():
        server.connection_made(JournalCheckingTransport(server))
        server.answer([client_packet(mac, DISCOVER) for mac in macs])
        server.answer(requests(macs[:2], 100))
        await settled(lambda: len(server.transport.sent) == 6)
        server.answer(requests(macs[2:], 102))  # waits for a window a minute long
        await asyncio.wait_for(server.stop(), 5)

    asyncio.run(scenario())
    assert len(server.transport.sent) == 8 and server.counters["journal_syncs"] == 2
    assert server.transport.unsynced_at_send == [False] * 8


def test_housekeeping_fsyncs_in_the_sync_thread_not_in_the_loop(tmp_path):
    """The leases no reply waited for (interval mode here) reach the disk within SYNC_INTERVAL,
    and the loop goes on reading packets meanwhile."""
    server = DhcpServer(dhcp_config.from_json(rack_config(), [SERVER_IP]), None, SERVER_IP,
                        state_dir=str(tmp_path), sync_before_reply=False, port=0)
    fsync, threads = server.leases.journal.fsync, []

    def observed_fsync():
        threads.append(threading.current_thread().name)
        fsync()

    server.leases.journal.fsync = observed_fsync
    mac = "52:54:00:00:07:01"

    async def scenario():
        await server.start()
        server.connection_made(FakeTransport())
        server.answer([client_packet(mac, DISCOVER)])
        server.answer(requests([mac], 100))
        assert len(server.transport.sent) == 2 and server.leases.journal.dirty
        await settled(lambda: not server.leases.journal.dirty and not server._syncing)
        await server.stop()

    asyncio.run(scenario())
    assert threads and all(name.startswith("dhcp-fsync") for name in threads)


def test_acks_whose_fsync_failed_are_never_sent(tmp_path):
    """A disk that cannot fsync: the clients get no ACK (they ask again), the OFFERs still go."""
    server = new_server(tmp_path)
    macs = [f"52:54:00:00:09:{i:02x}" for i in range(3)]

    def failing_fsync():
        raise OSError(5, "Input/output error")

    server.leases.journal.fsync = failing_fsync

    async def scenario():
        server.connection_made(FakeTransport())
        server.answer([client_packet(mac, DISCOVER) for mac in macs])
        server.answer(requests(macs, 100))
        await settled(lambda: server.counters["journal_sync_errors"] == 1)
        await settled(lambda: server._syncing is None)

    asyncio.run(scenario())
    assert len(server.transport.sent) == 3  # the OFFERs only
    assert server.counters["unsent_not_durable"] == 3
