"""Answer IPv6 router solicitations on DHCP interfaces, so netbooting iPXE does not wait.

iPXE configures IPv4 (DHCP) and IPv6 (router solicitation) together and waits for both: on a
network without an IPv6 router it sends solicitations for about 16 s before it boots. A router
advertisement with router lifetime 0, no prefixes and neither M nor O flag tells it "no IPv6
here" at once. It is sent unicast to the soliciting host only, and says this rack is not a
router, so hosts with a real IPv6 router are not affected.
"""
import asyncio
import logging
import socket
import struct

log = logging.getLogger(__name__)
ALL_ROUTERS = "ff02::2"
ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT = 133, 134
# Type, code, checksum (the kernel fills it for ICMPv6 raw sockets), cur hop limit, flags,
# router lifetime, reachable time, retransmit timer: all zero but the type.
ADVERTISEMENT = struct.pack("!BBHBBHII", ROUTER_ADVERTISEMENT, 0, 0, 0, 0, 0, 0, 0)


def open_socket(interface: str) -> socket.socket:
    """A raw ICMPv6 socket on `interface`, in the all-routers group, sending with hop limit 255
    (RFC 4861: receivers drop neighbour discovery with any other hop limit)."""
    index = socket.if_nametoindex(interface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode() + b"\0")
    group = socket.inet_pton(socket.AF_INET6, ALL_ROUTERS) + struct.pack("@I", index)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setblocking(False)
    return sock


def is_solicitation(data: bytes) -> bool:
    return len(data) >= 8 and data[0] == ROUTER_SOLICITATION and data[1] == 0


class SolicitationAnswerer:
    """Answers router solicitations received on one interface; counts what it did."""

    def __init__(self, interface: str):
        self.interface = interface
        self.counters = {"solicitations": 0, "advertisements": 0, "dropped": 0, "errors": 0}
        self.sock: socket.socket | None = None

    async def start(self) -> None:
        # asyncio's datagram endpoints take UDP sockets only: watch the raw socket directly.
        self.sock = open_socket(self.interface)
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._readable)
        log.info("answering IPv6 router solicitations on %s", self.interface)

    def _readable(self) -> None:
        try:
            data, addr = self.sock.recvfrom(1500)
        except OSError:
            self.counters["errors"] += 1
            return
        if not is_solicitation(data):
            self.counters["dropped"] += 1
            return
        self.counters["solicitations"] += 1
        try:
            self.sock.sendto(ADVERTISEMENT, addr)
            self.counters["advertisements"] += 1
        except OSError as exc:
            self.counters["errors"] += 1
            log.debug("router advertisement to %s failed: %s", addr[0], exc)

    def stop(self) -> None:
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
