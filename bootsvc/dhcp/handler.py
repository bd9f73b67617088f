"""DHCP message handling (RFC 2131 section 4.3): datagram in, (reply, destination) out."""
import logging
import socket
import struct
import time
from collections import Counter

from bootsvc.dhcp import pxe
from bootsvc.dhcp.config import DhcpConfig, Host, Subnet
from bootsvc.dhcp.leases import OFFERED, LeaseStore
from bootsvc.dhcp.packet import (
    ACK,
    BOOTREPLY,
    BOOTREQUEST,
    BROADCAST_FLAG,
    DECLINE,
    DISCOVER,
    INFORM,
    MESSAGE_NAMES,
    NAK,
    OFFER,
    OPT_DNS,
    OPT_DOMAIN,
    OPT_HOSTNAME,
    OPT_LEASE_TIME,
    OPT_MESSAGE_TYPE,
    OPT_MTU,
    OPT_REBINDING_T2,
    OPT_RELAY_AGENT,
    OPT_RENEWAL_T1,
    OPT_REQUESTED_IP,
    OPT_ROUTER,
    OPT_SERVER_ID,
    OPT_SUBNET_MASK,
    RELEASE,
    REQUEST,
    MalformedPacket,
    Packet,
    build,
    encode_option,
    format_mac,
    parse,
    u16,
    u32,
)

log = logging.getLogger(__name__)
_IP = struct.Struct("!I")
ZERO = b"\0\0\0\0"
BROADCAST = ("255.255.255.255", 68)
OFFER_HOLD = 30.0
MSG_BYTES = {t: encode_option(OPT_MESSAGE_TYPE, bytes((t,))) for t in (OFFER, ACK, NAK)}


def ip_of(raw: bytes) -> int:
    return _IP.unpack(raw)[0]


def ip_str(ip: int) -> str:
    return socket.inet_ntoa(_IP.pack(ip))


class SubnetOptions:
    """Pre-encoded reply options of one subnet (built once per config, not per packet)."""

    def __init__(self, subnet: Subnet):
        self.server_raw = _IP.pack(subnet.server_ip)
        self.server_str = ip_str(subnet.server_ip)
        self.bios_boot_loader = subnet.bios_boot_loader
        mask = _IP.pack(int(subnet.network.netmask))
        parts = [encode_option(OPT_SERVER_ID, self.server_raw),
                 encode_option(OPT_SUBNET_MASK, mask)]
        if subnet.gateway:
            parts.append(encode_option(OPT_ROUTER, _IP.pack(subnet.gateway)))
        if subnet.dns_servers:
            dns = b"".join(_IP.pack(a) for a in subnet.dns_servers)
            parts.append(encode_option(OPT_DNS, dns))
        if subnet.domain:
            parts.append(encode_option(OPT_DOMAIN, subnet.domain.encode()))
        if subnet.mtu:
            parts.append(encode_option(OPT_MTU, u16(subnet.mtu)))
        self.common = b"".join(parts)
        self.times = {t: self._times(t) for t in {subnet.lease_time, subnet.enlist_lease_time}}

    @staticmethod
    def _times(lease_time: int) -> bytes:
        return (encode_option(OPT_LEASE_TIME, u32(lease_time))
                + encode_option(OPT_RENEWAL_T1, u32(lease_time // 2))
                + encode_option(OPT_REBINDING_T2, u32(lease_time * 7 // 8)))


class DhcpHandler:
    """Answers DHCP requests from the config and the lease table; never raises on input."""

    def __init__(self, config: DhcpConfig, local_ip: str, leases: LeaseStore, emit=None,
                 report=None, clock=time.time):
        self.local_ip = ip_of(bytes(int(x) for x in local_ip.split(".")))
        self.leases = leases
        # Boot-timeline events: emit(mac, kind, text, fields) with optional structured fields.
        self.emit = emit or (lambda mac, kind, text, fields=None: None)
        self.report = report or (lambda lease, state: None)  # lease changes
        self.clock = clock
        self.counters: Counter = Counter()
        self._dispatch = {DISCOVER: self.discover, REQUEST: self.request, RELEASE: self.release,
                          DECLINE: self.decline, INFORM: self.inform}
        self.update_config(config)

    def update_config(self, config: DhcpConfig) -> None:
        """Swap the configuration atomically; leases are kept."""
        options = {id(s): SubnetOptions(s) for s in config.subnets}
        self.leases.set_config(config)
        self.config, self._options = config, options

    def handle(self, data: bytes) -> tuple[bytes, tuple[str, int]] | None:
        """One datagram: the reply and where to send it, or None."""
        self.counters["received"] += 1
        kind = "unknown"  # "packets.<type>.<result>": the rack's /metrics (bootsvc.metrics)
        try:
            pkt = parse(data)
            if pkt.op != BOOTREQUEST:
                raise MalformedPacket("not a request")
            handler = self._dispatch.get(pkt.message_type)
            if handler is None:
                raise MalformedPacket("no or unknown message type")
            kind = MESSAGE_NAMES[pkt.message_type].lower()
            reply = handler(pkt)
            self.counters[f"packets.{kind}.{'ignored' if reply is None else 'answered'}"] += 1
            return reply
        except MalformedPacket:
            self.counters["dropped_malformed"] += 1
            self.counters[f"packets.{kind}.malformed"] += 1
        except Exception:  # never let one packet stop the server
            self.counters["dropped_error"] += 1
            self.counters[f"packets.{kind}.error"] += 1
            log.exception("error handling a DHCP packet")
        return None

    # -- helpers ---------------------------------------------------------------------------
    def _subnet(self, pkt: Packet) -> Subnet | None:
        giaddr = ip_of(pkt.giaddr)
        subnet = self.config.subnet_for(giaddr if giaddr else self.local_ip)
        if subnet is None:
            self.counters["dropped_no_subnet"] += 1
        return subnet

    def _host(self, subnet: Subnet, mac: bytes) -> Host | None:
        host = self.config.hosts.get(mac)
        return host if host is not None and subnet.contains(host.ip) else None

    def _requested(self, pkt: Packet) -> int | None:
        value = pkt.options.get(OPT_REQUESTED_IP)
        return ip_of(value) if value is not None and len(value) == 4 else None

    def _lease_time(self, subnet: Subnet, host: Host | None) -> int:
        if host is None and subnet.allow_enlistment:
            return subnet.enlist_lease_time
        return subnet.lease_time

    def _destination(self, pkt: Packet, kind: int) -> tuple[str, int]:
        """Relay → giaddr:67; NAK or no client address → broadcast; else unicast to ciaddr."""
        if pkt.giaddr != ZERO:
            return ip_str(ip_of(pkt.giaddr)), 67
        if kind != NAK and pkt.ciaddr != ZERO:
            return ip_str(ip_of(pkt.ciaddr)), 68
        return BROADCAST

    def _reply(self, pkt: Packet, kind: int, subnet: Subnet, yiaddr: int,
               host: Host | None, lease_time: int | None) -> tuple[bytes, tuple[str, int]]:
        opts = self._options[id(subnet)]
        rep = Packet(op=BOOTREPLY, xid=pkt.xid, chaddr=pkt.chaddr, htype=pkt.htype,
                     hlen=pkt.hlen, flags=pkt.flags, giaddr=pkt.giaddr)
        parts = [MSG_BYTES[kind]]
        if kind == NAK:
            parts.append(encode_option(OPT_SERVER_ID, opts.server_raw))
            if pkt.giaddr != ZERO:
                rep.flags |= BROADCAST_FLAG
        else:
            rep.yiaddr = _IP.pack(yiaddr)
            if kind == ACK:
                rep.ciaddr = pkt.ciaddr
            parts.append(opts.common)
            if lease_time is not None:
                parts.append(opts.times.get(lease_time) or SubnetOptions._times(lease_time))
            if host is not None and host.hostname:
                parts.append(encode_option(OPT_HOSTNAME, host.hostname.encode()))
            parts.append(self._boot(pkt, rep, opts))
        agent = pkt.options.get(OPT_RELAY_AGENT)
        if agent is not None:
            parts.append(encode_option(OPT_RELAY_AGENT, agent))  # RFC 3046: echoed, last
        return build(rep, b"".join(parts)), self._destination(pkt, kind)

    def _refuse_unsupported(self, pkt: Packet) -> None:
        """Count and report a boot client whose architecture has no loader: it gets an address
        and no boot file (its firmware then says why), never a loader it cannot run."""
        arch = pxe.unsupported_arch(pkt.options)
        if arch is None:
            return
        self.counters["pxe_unsupported_arch"] += 1
        self.emit(pkt.mac, "boot_unsupported_arch",
                  f"no boot loader for client architecture {arch} (DHCP option 93)")

    def _boot(self, pkt: Packet, rep: Packet, opts) -> bytes:
        # Every PXE client gets its loader, as with MAAS: machines the region knows often have
        # no reserved address, so whether an unknown MAC may enlist is the boot decision's
        # call (it answers "boot local" where enlistment is off), not DHCP's.
        choice = pxe.choose(pkt.options, opts.server_str, self.config.http_port,
                            opts.bios_boot_loader)
        if choice is None:
            return b""
        rep.siaddr = opts.server_raw
        rep.file = choice.file.encode()[:127]
        self.counters["pxe"] += 1
        return pxe.option_bytes(choice, opts.server_str)

    # -- messages --------------------------------------------------------------------------
    def discover(self, pkt: Packet):
        subnet = self._subnet(pkt)
        if subnet is None:
            return None
        mac = pkt.mac
        firmware = pxe.firmware(pkt.options)
        self.emit(mac, "dhcp_discover", f"DHCPDISCOVER ({firmware})" if firmware else
                  "DHCPDISCOVER", {"firmware": firmware} if firmware else None)
        self._refuse_unsupported(pkt)
        ip = self.leases.choose(subnet, mac, self._requested(pkt))
        if ip is None:
            self.counters["dropped_no_address"] += 1
            return None
        self.leases.offer(mac, ip, OFFER_HOLD)
        host = self._host(subnet, mac)
        self.counters["offers"] += 1
        self.emit(mac, "dhcp_offer", f"DHCPOFFER {ip_str(ip)}")
        return self._reply(pkt, OFFER, subnet, ip, host, self._lease_time(subnet, host))

    def request(self, pkt: Packet):
        subnet = self._subnet(pkt)
        if subnet is None:
            return None
        mac, server_id = pkt.mac, pkt.options.get(OPT_SERVER_ID)
        if server_id is not None and server_id != self._options[id(subnet)].server_raw:
            lease = self.leases.by_mac.get(mac)  # the client chose another server
            if lease is not None and lease.state == OFFERED:
                self.leases.release(mac, lease.ip)
            self.counters["dropped_other_server"] += 1
            return None
        ip = self._requested(pkt) or ip_of(pkt.ciaddr)
        if not ip or not self.leases.available(subnet, mac, ip):
            self.counters["naks"] += 1
            return self._reply(pkt, NAK, subnet, 0, None, None)
        host = self._host(subnet, mac)
        lease_time = self._lease_time(subnet, host)
        hostname = host.hostname if host else pkt.options.get(OPT_HOSTNAME, b"").decode(
            "ascii", "replace").replace(" ", "_")
        lease = self.leases.commit(mac, ip, lease_time, hostname)
        self.counters["acks"] += 1
        self.emit(mac, "dhcp_ack", f"DHCPACK {ip_str(ip)}")
        self.report(lease, "active")
        return self._reply(pkt, ACK, subnet, ip, host, lease_time)

    def release(self, pkt: Packet):
        lease = self.leases.release(pkt.mac, ip_of(pkt.ciaddr))
        self.counters["releases"] += 1
        if lease is not None:
            self.report(lease, "released")
        return None

    def decline(self, pkt: Packet):
        subnet = self._subnet(pkt)
        ip = self._requested(pkt)
        if subnet is None or ip is None or not subnet.contains(ip):
            return None
        self.leases.decline(pkt.mac, ip, max(subnet.lease_time, 600))
        self.counters["declines"] += 1
        log.warning("%s declined %s: quarantined", format_mac(pkt.mac), ip_str(ip))
        return None

    def inform(self, pkt: Packet):
        ciaddr = ip_of(pkt.ciaddr)
        subnet = self.config.subnet_for(ciaddr) if ciaddr else self._subnet(pkt)
        if subnet is None:
            return None
        self.counters["informs"] += 1
        return self._reply(pkt, ACK, subnet, 0, self._host(subnet, pkt.mac), None)
