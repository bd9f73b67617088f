"""IPMI 2.0 virtual BMCs on pyghmi's BMC server, many per process on one event loop."""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import resource
import select
import socket
import struct
import threading
from collections.abc import Mapping

from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi.private import constants, serversession
from pyghmi.ipmi.private import session as ipmisession

from lab.vbmc.backends import Backend

logger = logging.getLogger(__name__)

# Cipher suites we serve: (authentication, integrity, confidentiality) algorithm numbers from
# IPMI 2.0 tables 13-17..13-19 -> (hash for RAKP and integrity, integrity code length).
# 3 = RAKP-HMAC-SHA1 / HMAC-SHA1-96 / AES-CBC-128; 17 = RAKP-HMAC-SHA256 / HMAC-SHA256-128 / AES.
CIPHER_SUITES = {3: (1, 1, 1), 17: (3, 4, 1)}
_ALGORITHMS = {(1, 1, 1): (hashlib.sha1, 12), (3, 4, 1): (hashlib.sha256, 16)}
RMCP_NO_CIPHER_MATCH = 0x11
RMCP_UNAUTHORIZED_NAME = 0x0D
# IPMI boot device selector (Set System Boot Options, parameter 5, data 2 bits 5:2).
_BOOT_SELECTORS = {0: "default", 1: "pxe", 2: "disk", 3: "safe", 5: "cdrom", 6: "bios",
                   15: "floppy"}
_SELECTOR_OF = {name: number for number, name in _BOOT_SELECTORS.items()}


class _PollSelect:
    """select.select() stand-in for pyghmi's IO thread: poll() has no 1024-descriptor limit."""

    # pyghmi watches every BMC socket with select.select(), which raises ValueError once a
    # descriptor number passes FD_SETSIZE (1024), i.e. at about 1,000 BMCs in one process.
    # Its IO thread only uses select() to sleep until something is readable (it then reads
    # every socket), so a poll()-based equivalent is a drop-in replacement.

    error = select.error

    @staticmethod
    def select(rlist, wlist, xlist, timeout=None):
        poller = select.poll()
        for sock in rlist:
            try:
                poller.register(sock, select.POLLIN)
            except (OSError, ValueError):
                continue  # closed while a BMC was being removed
        events = poller.poll(None if timeout is None else max(timeout, 0) * 1000)
        ready = {fd for fd, _ in events}
        return [s for s in rlist if _fileno(s) in ready], [], []


def _fileno(sock) -> int:
    try:
        return sock.fileno()
    except OSError:
        return -1


def install_poll_patch() -> None:
    """Make pyghmi's IO thread use poll() (see _PollSelect)."""
    ipmisession.select = _PollSelect


def ensure_wake_socket() -> None:
    """Give pyghmi a loopback socket of its own as iosockets[0] before any BMC socket.

    pyghmi wakes its IO thread by sending a byte from iosockets[0] to (myself, its port), with
    `myself` guessed as '::1'; if the first socket is a BMC's IPv4 socket that send fails.
    A client socket created first (as pyghmi's client does) already plays this role.
    """
    if ipmisession.iosockets:
        return
    wake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wake.bind(("127.0.0.1", 0))
    ipmisession.iosockets.append(wake)
    ipmisession.myself = "127.0.0.1"


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class NegotiatingSession(serversession.ServerSession):
    """pyghmi's server session, answering RMCP+ Open Session with the client's cipher suite."""

    # pyghmi 1.6.19's ServerSession ignores the algorithms in the Open Session Request and
    # always answers SHA-1 (suite 3) while the client believes its proposal was accepted:
    # pyghmi's own client proposes SHA-256 (suite 17) first and then fails unpacking a 20-byte
    # RAKP2 HMAC as a 32-byte one. Here the proposal is parsed, suite 3 or 17 is accepted
    # (others get status 0x11, "no cipher suite match") and the RAKP, session-key and
    # integrity hashes follow the choice (_got_rakp1/_got_rakp3/_send_rakp4 are pyghmi's with
    # hashlib.sha1 replaced by the negotiated hash).

    def create_open_session_response(self, request):
        clienttag = request[0]
        self.clientsessionid = request[4:8]
        self.managedsessionid = os.urandom(4)
        self.privlevel = 4
        algorithms = _requested_algorithms(request)
        if algorithms not in _ALGORITHMS:
            self.__dict__.pop("authhash", None)
            return bytearray([clienttag, RMCP_NO_CIPHER_MATCH, 0, 0]) + self.clientsessionid
        self.authhash, self.currhashlen = _ALGORITHMS[algorithms]
        self.currhashlib = self.authhash
        auth, integrity, conf = algorithms
        return (bytearray([clienttag, 0, self.privlevel, 0]) + self.clientsessionid
                + self.managedsessionid
                + bytearray([0, 0, 0, 8, auth, 0, 0, 0, 1, 0, 0, 8, integrity, 0, 0, 0,
                             2, 0, 0, 8, conf, 0, 0, 0]))

    def _hmac(self, key: bytes, data) -> bytes:
        return hmac.new(key, bytes(data), self.authhash).digest()

    def _got_rakp1(self, data):
        if not hasattr(self, "authhash"):
            return  # the open session request was refused
        clienttag = data[0]
        self.Rm = data[8:24]
        self.rolem = data[24]
        self.maxpriv = self.rolem & 0b111
        self.username = bytes(data[28:28 + data[27]])
        password = self.authdata.get(self.username.decode("utf-8", "replace"))
        if not self.username or password is None:
            self._send_rakp2_error(clienttag, RMCP_UNAUTHORIZED_NAME)
            return
        self.uuiddata = self.uuid.bytes
        self.Rc = os.urandom(16)
        self.kuid = password.encode("utf-8")
        if self.kg is None:
            self.kg = self.kuid
        hmacdata = (self.clientsessionid + self.managedsessionid + self.Rm + self.Rc
                    + self.uuiddata + bytearray([self.rolem, len(self.username)])
                    + self.username)
        message = (bytearray([clienttag, 0, 0, 0]) + self.clientsessionid + self.Rc
                   + self.uuiddata + self._hmac(self.kuid, hmacdata))
        self.send_payload(message, constants.payload_types["rakp2"], retry=False)

    def _send_rakp2_error(self, clienttag: int, status: int) -> None:
        message = bytearray([clienttag, status, 0, 0]) + self.clientsessionid
        self.send_payload(message, constants.payload_types["rakp2"], retry=False)

    def _got_rakp3(self, data):
        if not hasattr(self, "kuid"):
            return
        namedata = struct.pack("2B", self.rolem, len(self.username)) + self.username
        self.sik = self._hmac(self.kg, bytes(self.Rm + self.Rc) + namedata)
        self.k1 = self._hmac(self.sik, b"\x01" * 20)
        self.k2 = self._hmac(self.sik, b"\x02" * 20)
        self.aeskey = self.k2[0:16]
        expected = self._hmac(self.kuid, bytes(self.Rc + self.clientsessionid) + namedata)
        if not hmac.compare_digest(expected, bytes(data[8:])) or data[1] != 0:
            return  # a bad RAKP3 is dropped, as pyghmi does
        self.localsid = struct.unpack("<I", self.managedsessionid)[0]
        self.ipmicallback = self.handle_client_request
        self._send_rakp4(data[0], 0)

    def _send_rakp4(self, tagvalue, statuscode):
        payload = bytearray([tagvalue, statuscode, 0, 0]) + self.clientsessionid
        icv = self._hmac(self.sik, self.Rm + self.managedsessionid + self.uuiddata)
        payload += icv[:self.currhashlen]
        self.send_payload(payload, constants.payload_types["rakp4"], retry=False)
        self.confalgo = "aes"
        self.integrityalgo = "sha"
        self.sequencenumber = 1
        self.sessionid = struct.unpack("<I", bytes(self.clientsessionid))[0]

    def sessionless_data(self, data, sockaddr):
        """A packet queued for this session after it closed goes to its BMC (pyghmi lacks it)."""
        self.bmc.sessionless_data(data, sockaddr)

    def close_server_session(self):
        """Forget the session on Close Session (pyghmi keeps every session forever)."""
        handlers = ipmisession.Session.bmc_handlers.get(self.sockaddr, {})
        if handlers.get(self.bmc.port) is self:
            del handlers[self.bmc.port]
            if not handlers:
                ipmisession.Session.bmc_handlers.pop(self.sockaddr, None)


def _requested_algorithms(request) -> tuple[int, int, int] | None:
    """(auth, integrity, confidentiality) from an Open Session Request; wildcards mean suite 3."""
    if len(request) < 32:
        return None
    records = [request[8:16], request[16:24], request[24:32]]
    if any(record[0] != kind for kind, record in enumerate(records)):
        return None
    chosen = tuple(record[4] & 0x3F if record[3] else None for record in records)
    if chosen == (None, None, None):
        return CIPHER_SUITES[3]
    default = CIPHER_SUITES[3] if chosen[0] in (None, 1) else CIPHER_SUITES[17]
    return tuple(value if value is not None else default[i] for i, value in enumerate(chosen))


class VirtualBmc(pyghmi_bmc.Bmc):
    """One IPMI 2.0 BMC on a UDP port, delegating chassis commands to a backend."""

    def __init__(
        self, backend: Backend, users: Mapping[str, str], port: int = 623,
        address: str = "127.0.0.1", name: str = "",
    ) -> None:
        super().__init__(dict(users), port=port, address=address)
        # port 0 asks the kernel for a free port; pyghmi routes packets by the bound port.
        self.port = self.serversocket.getsockname()[1]
        self.address = address
        self.backend = backend
        self.name = name or f"vbmc-{self.port}"

    def sessionless_data(self, data, sockaddr):
        """Open Session Requests get our negotiating session; the rest goes to pyghmi."""
        data = bytearray(data)
        if (len(data) >= 22 and data[0] == 6 and data[2:4] == b"\xff\x07" and data[4] == 6
                and data[5] == constants.payload_types["rmcpplusopenreq"]):
            NegotiatingSession(self.authdata, self.kg, sockaddr, self.serversocket,
                               data[16:], self.uuid, bmc=self)
            return
        super().sessionless_data(data, sockaddr)

    def send_cipher_suites(self, myaddr, mylun, clientaddr, clientlun, clientseq, data,
                           sockaddr):
        """Get Channel Cipher Suites: advertise 3 and 17 (pyghmi hard-codes 3 only)."""
        records = bytearray()
        for suite, (auth, integrity, conf) in CIPHER_SUITES.items():
            records += bytearray([0xC0, suite, auth, 0x40 | integrity, 0x80 | conf])
        list_index = data[22] & 0x3F if len(data) > 22 else 0
        body = bytearray([0x01]) + records[list_index * 16:(list_index + 1) * 16]
        ipmihdr = bytearray([clientaddr, clientlun | (7 << 2)])
        ipmihdr.append(ipmisession._checksum(*ipmihdr))
        rq = bytearray([myaddr, mylun | clientseq << 2, 0x54, 0x00]) + body
        rq.append(ipmisession._checksum(*rq))
        message = ipmihdr + rq
        header = bytearray(b"\x06\x00\xff\x07\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00")
        header += struct.pack("<H", len(message))
        ipmisession._io_sendto(self.serversocket, header + message, sockaddr)

    def get_power_state(self):
        return self.backend.power_state()

    def power_on(self):
        self.backend.power_on()

    def power_off(self):
        self.backend.power_off()

    def power_shutdown(self):
        self.backend.power_shutdown()

    def power_reset(self):
        self.backend.power_reset()

    def power_cycle(self):
        self.backend.power_cycle()

    def get_system_guid(self):
        return self.uuid

    def set_system_boot_options(self, request, session):
        """Parameter 5 (boot flags) sets the backend's boot device, persistence and EFI flag."""
        data = request["data"]
        if not data or data[0] & 0x7F != 5:
            return super().set_system_boot_options(request, session)
        if len(data) < 3:
            return session.send_ipmi_response(code=0xCC)
        device = _BOOT_SELECTORS.get((data[2] >> 2) & 0x0F)
        if device is None:
            return session.send_ipmi_response(code=0xCC)
        valid = bool(data[1] & 0x80)
        self.backend.set_boot_device(
            device if valid else "default", persistent=bool(data[1] & 0x40),
            efi=bool(data[1] & 0x20),
        )
        session.send_ipmi_response()

    def get_system_boot_options(self, request, session):
        data = request["data"]
        if not data or data[0] & 0x7F != 5:
            return session.send_ipmi_response(code=0x80)
        boot = self.backend.get_boot_device()
        flags = 0
        if boot.device != "default":
            flags = 0x80 | (0x40 if boot.persistent else 0) | (0x20 if boot.efi else 0)
        selector = _SELECTOR_OF[boot.device] << 2
        session.send_ipmi_response(data=[1, 5, flags, selector, 0, 0, 0])

    def close(self) -> None:
        """Stop answering: unregister the socket and this BMC's sessions from pyghmi."""
        sock = self.serversocket
        handlers = ipmisession.Session.bmc_handlers
        handlers.pop(sock, None)
        for key in list(handlers):
            sessions = handlers.get(key)
            if isinstance(sessions, dict) and getattr(sessions.get(self.port), "bmc", None) is self:
                del sessions[self.port]
        if sock in ipmisession.iosockets and len(ipmisession.iosockets) > 1:
            ipmisession.iosockets.remove(sock)
            sock.close()
        self.backend.close()


class BmcHost:
    """Runs many virtual BMCs in one process on pyghmi's shared event loop (one IO thread)."""

    def __init__(self) -> None:
        install_poll_patch()
        ensure_wake_socket()
        raise_fd_limit()
        self.bmcs: dict[int, VirtualBmc] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, backend: Backend, users: Mapping[str, str], port: int = 0,
            address: str = "127.0.0.1", name: str = "") -> VirtualBmc:
        bmc = VirtualBmc(backend, users, port=port, address=address, name=name)
        self.bmcs[bmc.port] = bmc
        return bmc

    def remove(self, bmc: VirtualBmc) -> None:
        self.bmcs.pop(bmc.port, None)
        bmc.close()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Process IPMI traffic for every BMC of the process until stop() is called."""
        while not self._stop.is_set():
            try:
                ipmisession.Session.wait_for_rsp(poll_interval)
            except Exception:  # one bad packet must not stop every BMC
                logger.exception("virtual BMC event loop error")

    def request_stop(self) -> None:
        """Ask serve_forever() to return (safe from signal handlers)."""
        self._stop.set()

    def start(self) -> BmcHost:
        self._thread = threading.Thread(target=self.serve_forever, name="vbmc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for bmc in list(self.bmcs.values()):
            self.remove(bmc)


def free_udp_port(address: str = "127.0.0.1") -> int:
    """A UDP port that was free a moment ago (prefer port 0 when the caller can)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]
