"""A scapy-free DHCP test client (or relay) run inside a namespace; prints the reply as JSON."""
import argparse
import json
import os
import socket
import struct
import sys

HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
MAGIC = b"\x63\x82\x53\x63"


def build(args, msg_type: int, xid: int, requested: str | None, server_id: str | None) -> bytes:
    mac = bytes.fromhex(args.mac.replace(":", ""))
    giaddr = socket.inet_aton(args.relay or "0.0.0.0")
    flags = 0x8000 if args.broadcast else 0
    hops = 1 if args.relay else 0
    head = HEADER.pack(1, 1, 6, hops, xid, 0, flags, bytes(4), bytes(4), bytes(4), giaddr,
                       mac.ljust(16, b"\0"), b"", b"")
    opts = [bytes((53, 1, msg_type))]
    if args.arch is not None:
        opts.append(bytes((93, 2)) + struct.pack("!H", args.arch))
    if args.vendor_class:
        opts.append(bytes((60, len(args.vendor_class))) + args.vendor_class.encode())
    if args.user_class:
        opts.append(bytes((77, len(args.user_class))) + args.user_class.encode())
    if requested:
        opts.append(bytes((50, 4)) + socket.inet_aton(requested))
    if server_id:
        opts.append(bytes((54, 4)) + socket.inet_aton(server_id))
    opts.append(bytes((55, 4, 1, 3, 6, 51)))
    if args.agent_info:
        agent = bytes.fromhex(args.agent_info)
        opts.append(bytes((82, len(agent))) + agent)
    return head + MAGIC + b"".join(opts) + b"\xff"


def parse(data: bytes) -> dict:
    fields = HEADER.unpack_from(data)
    options, i = {}, HEADER.size + 4
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, length = data[i], data[i + 1]
        options[code] = data[i + 2 : i + 2 + length]
        i += 2 + length
    return {
        "xid": fields[4], "flags": fields[6], "yiaddr": socket.inet_ntoa(fields[8]),
        "siaddr": socket.inet_ntoa(fields[9]), "giaddr": socket.inet_ntoa(fields[10]),
        "file": fields[13].rstrip(b"\0").decode(), "type": options.get(53, b"\0")[0],
        "options": {str(k): v.hex() for k, v in options.items()},
    }


def receive(sock: socket.socket, xid: int) -> tuple[dict, tuple]:
    while True:
        data, addr = sock.recvfrom(4096)
        if len(data) >= HEADER.size + 4 and HEADER.unpack_from(data)[4] == xid:
            return parse(data), addr


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--iface", required=True)
    p.add_argument("--mac", required=True)
    p.add_argument("--arch", type=int)
    p.add_argument("--vendor-class")
    p.add_argument("--user-class")
    p.add_argument("--relay", help="act as a relay with this giaddr, sending to --server")
    p.add_argument("--server", default="255.255.255.255")
    p.add_argument("--agent-info", help="option 82 payload (hex)")
    p.add_argument("--broadcast", action="store_true")
    p.add_argument("--request", action="store_true", help="also REQUEST the offered address")
    p.add_argument("--timeout", type=float, default=5)
    args = p.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.iface.encode())
    sock.bind((args.relay or "0.0.0.0", 67 if args.relay else 68))
    sock.settimeout(args.timeout)
    xid = int.from_bytes(os.urandom(4), "big")
    out = {}
    try:
        sock.sendto(build(args, 1, xid, None, None), (args.server, 67))
        out["offer"], addr = receive(sock, xid)
        out["offer_from"] = list(addr)
        if args.request:
            server_id = socket.inet_ntoa(bytes.fromhex(out["offer"]["options"]["54"]))
            sock.sendto(build(args, 3, xid, out["offer"]["yiaddr"], server_id), (args.server, 67))
            out["ack"], addr = receive(sock, xid)
    except TimeoutError:
        out["timeout"] = True
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
