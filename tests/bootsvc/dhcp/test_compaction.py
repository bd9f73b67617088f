"""The lease journal compacted in the background while the server answers: nothing lost, no
ACK before its lease is durable, and a failed compaction leaves the old journal going on."""
import asyncio

from bootsvc.dhcp.leases import LeaseStore
from bootsvc.dhcp.packet import DISCOVER
from bootsvc.dhcp.server import DhcpServer
from tests.bootsvc.dhcp.helpers import client_packet
from tests.bootsvc.dhcp.test_server import (
    JournalCheckingTransport,
    new_server,
    requests,
    settled,
)

MACS = [f"52:54:00:00:08:{i:02x}" for i in range(50)]


def bindings(leases: LeaseStore) -> dict:
    return {mac: lease.ip for mac, lease in leases.by_mac.items()}


async def lease_and_renew(server: DhcpServer, macs: list[str], first: int, renewals: int):
    server.answer([client_packet(mac, DISCOVER) for mac in macs])
    for _ in range(1 + renewals):
        sent = len(server.transport.sent)
        server.answer(requests(macs, first))
        await settled(lambda: len(server.transport.sent) == sent + len(macs))  # noqa: B023


def compact_while_answering(server: DhcpServer) -> None:
    """40 leases renewed 3 times (160 records); a compaction; 10 new leases while it runs."""
    async def scenario():
        server.connection_made(JournalCheckingTransport(server))
        await lease_and_renew(server, MACS[:40], 100, renewals=3)
        assert server.leases.journal.records == 160
        server._compacting = asyncio.create_task(server._compact())
        await asyncio.sleep(0)  # the snapshot is taken, one chunk formatted
        assert server._compacting is not None
        await lease_and_renew(server, MACS[40:], 140, renewals=0)
        await settled(lambda: server._compacting is None and server._syncing is None
                      and not server._after_sync)
        server.final_records = server.leases.journal.records
        await server.stop()

    asyncio.run(scenario())


def test_compaction_in_the_background_keeps_every_lease(tmp_path, monkeypatch):
    monkeypatch.setattr("bootsvc.dhcp.server.COMPACTION_CHUNK", 5)  # 8 loop turns
    server = new_server(tmp_path)
    compact_while_answering(server)
    assert server.counters["journal_compactions"] == 1
    assert server.counters["acks"] == 170 and len(server.transport.sent) == 220
    assert server.transport.unsynced_at_send == [False] * 220
    # The new file: the 40 leases of the snapshot, then the 10 granted while it was written.
    assert server.final_records == 50
    assert (tmp_path / "leases.journal").read_bytes().count(b"\n") == 50
    assert bindings(LeaseStore(str(tmp_path))) == bindings(server.leases)
    assert len(server.leases.by_mac) == 50


def test_a_failed_compaction_leaves_the_old_journal_going_on(tmp_path, monkeypatch):
    monkeypatch.setattr("bootsvc.dhcp.server.COMPACTION_CHUNK", 5)
    server = new_server(tmp_path)

    def disk_full(tail):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(server.leases.journal, "replace", disk_full)
    compact_while_answering(server)
    assert server.counters["journal_compaction_errors"] == 1
    assert "journal_compactions" not in server.counters
    assert server.counters["acks"] == 170 and len(server.transport.sent) == 220
    assert server.transport.unsynced_at_send == [False] * 220
    assert server.final_records == 170
    assert bindings(LeaseStore(str(tmp_path))) == bindings(server.leases)
