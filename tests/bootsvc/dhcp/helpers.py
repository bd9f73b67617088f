"""In-process helpers: build client messages and run them through a DhcpHandler."""
import socket
import struct

from bootsvc.dhcp import config as dhcp_config
from bootsvc.dhcp.handler import DhcpHandler
from bootsvc.dhcp.leases import LeaseStore
from bootsvc.dhcp.packet import Packet, build, parse, parse_mac
from tests.bootsvc.dhcp.conftest import SERVER_IP, rack_config


class Clock:
    """A settable clock."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_handler(config: dict | None = None, state_dir=None, clock=None):
    clock = clock or Clock()
    events, reports = [], []
    leases = LeaseStore(state_dir, clock=clock)
    handler = DhcpHandler(
        dhcp_config.from_json(config or rack_config(), [SERVER_IP]), SERVER_IP, leases,
        emit=lambda mac, kind, text, fields=None: events.append(kind),
        report=lambda lease, state: reports.append(state), clock=clock)
    handler.events, handler.reports, handler.clock_ = events, reports, clock
    return handler


def client_packet(mac: str, msg_type: int, xid: int = 7, **options) -> bytes:
    pkt = Packet(xid=xid, chaddr=parse_mac(mac).ljust(16, b"\0"))
    pkt.options[53] = bytes((msg_type,))
    for name, value in options.items():
        if name == "ciaddr" or name == "giaddr":
            setattr(pkt, name, socket.inet_aton(value))
        elif name == "flags":
            pkt.flags = value
        else:
            pkt.options[int(name.lstrip("o"))] = value
    return build(pkt)


def ask(handler, mac: str, msg_type: int, **options):
    """Send one message; return (parsed reply, destination) or None."""
    result = handler.handle(client_packet(mac, msg_type, **options))
    return None if result is None else (parse(result[0]), result[1])


def ip(pkt) -> str:
    return socket.inet_ntoa(pkt.yiaddr)


def aton(text: str) -> bytes:
    return socket.inet_aton(text)


def arch(value: int) -> bytes:
    return struct.pack("!H", value)
