"""DHCP packet parsing and building (RFC 2131 / RFC 2132, RFC 3396 long options)."""
import socket
import struct

BOOTREQUEST = 1
BOOTREPLY = 2
MAGIC = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
HEADER_LEN = HEADER.size  # 236
MIN_LEN = HEADER_LEN + 4
BOOTP_MIN = 300  # replies are padded to the minimum BOOTP size
BROADCAST_FLAG = 0x8000

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
MESSAGE_NAMES = {
    DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE", ACK: "ACK",
    NAK: "NAK", RELEASE: "RELEASE", INFORM: "INFORM",
}

# Option codes used by the server (RFC 2132, RFC 3046, RFC 4578, RFC 3004).
OPT_PAD, OPT_END = 0, 255
OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN = 1, 3, 6, 12, 15
OPT_MTU, OPT_VENDOR_SPECIFIC, OPT_REQUESTED_IP, OPT_LEASE_TIME = 26, 43, 50, 51
OPT_OVERLOAD, OPT_MESSAGE_TYPE, OPT_SERVER_ID, OPT_PARAM_LIST = 52, 53, 54, 55
OPT_MESSAGE, OPT_RENEWAL_T1, OPT_REBINDING_T2, OPT_VENDOR_CLASS = 56, 58, 59, 60
OPT_CLIENT_ID, OPT_TFTP_SERVER, OPT_BOOTFILE, OPT_USER_CLASS = 61, 66, 67, 77
OPT_RELAY_AGENT, OPT_CLIENT_ARCH, OPT_CLIENT_NDI, OPT_CLIENT_UUID = 82, 93, 94, 97


class MalformedPacket(ValueError):
    """The datagram is not a well-formed DHCP message."""


class Packet:
    """A parsed DHCP message: fixed BOOTP fields plus an options dict (code -> raw bytes)."""

    __slots__ = (
        "op", "htype", "hlen", "hops", "xid", "secs", "flags", "ciaddr", "yiaddr", "siaddr",
        "giaddr", "chaddr", "sname", "file", "options",
    )

    def __init__(self, op=BOOTREQUEST, xid=0, chaddr=b"", **fields):
        self.op, self.htype, self.hlen, self.hops = op, 1, 6, 0
        self.xid, self.secs, self.flags = xid, 0, 0
        self.ciaddr = self.yiaddr = self.siaddr = self.giaddr = b"\0\0\0\0"
        self.chaddr, self.sname, self.file = chaddr, b"", b""
        self.options: dict[int, bytes] = {}
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def mac(self) -> bytes:
        return self.chaddr[: self.hlen]

    @property
    def message_type(self) -> int | None:
        value = self.options.get(OPT_MESSAGE_TYPE)
        return value[0] if value and len(value) == 1 else None

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST_FLAG)


def parse_options(data: bytes, start: int, end: int, options: dict[int, bytes]) -> None:
    """Parse a TLV option area into options, concatenating repeated codes (RFC 3396)."""
    i = start
    while i < end:
        code = data[i]
        if code == OPT_END:
            return
        if code == OPT_PAD:
            i += 1
            continue
        if i + 1 >= end:
            raise MalformedPacket("option length missing")
        length = data[i + 1]
        i += 2
        if i + length > end:
            raise MalformedPacket(f"option {code} overruns the packet")
        value = data[i : i + length]
        previous = options.get(code)
        options[code] = value if previous is None else previous + value
        i += length
    # A missing END is tolerated (many clients pad instead of ending properly).


def parse(data: bytes) -> Packet:
    """Parse a datagram into a Packet; raise MalformedPacket on anything unusable."""
    if len(data) < MIN_LEN:
        raise MalformedPacket("too short")
    if data[HEADER_LEN:MIN_LEN] != MAGIC:
        raise MalformedPacket("no magic cookie")
    pkt = Packet.__new__(Packet)
    (pkt.op, pkt.htype, pkt.hlen, pkt.hops, pkt.xid, pkt.secs, pkt.flags, pkt.ciaddr,
     pkt.yiaddr, pkt.siaddr, pkt.giaddr, pkt.chaddr, sname, file) = HEADER.unpack_from(data)
    if pkt.hlen > 16 or pkt.hlen == 0:
        raise MalformedPacket("bad hardware address length")
    options: dict[int, bytes] = {}
    parse_options(data, MIN_LEN, len(data), options)
    overload = options.get(OPT_OVERLOAD)
    if overload and overload[0] & 1:
        parse_options(file, 0, len(file), options)
        file = b""
    if overload and overload[0] & 2:
        parse_options(sname, 0, len(sname), options)
        sname = b""
    pkt.sname, pkt.file = sname.split(b"\0", 1)[0], file.split(b"\0", 1)[0]
    pkt.options = options
    return pkt


def encode_option(code: int, value: bytes) -> bytes:
    """One option as TLV bytes, split into 255-byte pieces when long (RFC 3396)."""
    if len(value) <= 255:
        return bytes((code, len(value))) + value
    return b"".join(
        bytes((code, len(chunk))) + chunk
        for chunk in (value[i : i + 255] for i in range(0, len(value), 255))
    )


def ip_bytes(address: str) -> bytes:
    return socket.inet_aton(address)


def ip_list(addresses) -> bytes:
    return b"".join(socket.inet_aton(a) for a in addresses)


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def u16(value: int) -> bytes:
    return struct.pack("!H", value)


def build(pkt: Packet, option_bytes: bytes = b"") -> bytes:
    """Serialise pkt; option_bytes (pre-encoded TLVs) follow pkt.options, then END and padding."""
    header = HEADER.pack(
        pkt.op, pkt.htype, pkt.hlen, pkt.hops, pkt.xid, pkt.secs, pkt.flags, pkt.ciaddr,
        pkt.yiaddr, pkt.siaddr, pkt.giaddr, pkt.chaddr, pkt.sname, pkt.file,
    )
    parts = [header, MAGIC]
    for code, value in pkt.options.items():
        parts.append(encode_option(code, value))
    parts.append(option_bytes)
    parts.append(b"\xff")
    out = b"".join(parts)
    if len(out) < BOOTP_MIN:
        out += bytes(BOOTP_MIN - len(out))
    return out


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.replace("-", ":").split(":"))
