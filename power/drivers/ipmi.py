"""IPMI 2.0 (RMCP+ lanplus) power driver on pyghmi: operator's cipher suite, bounded calls."""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import command as ipmi_command
from pyghmi.ipmi.oem import generic as generic_oem
from pyghmi.ipmi.private import session as ipmi_session

from power.drivers.base import (
    POWER_OFF,
    POWER_ON,
    PowerAuthError,
    PowerConnectionError,
    PowerDriver,
    PowerError,
    PowerSettingsError,
    PowerTimeoutError,
    PowerUnsupportedError,
    SettingField,
)

T = TypeVar("T")
PRIVILEGES = {"USER": 2, "OPERATOR": 3, "ADMIN": 4}
# Chassis Control directives (IPMI 2.0 table 28-4).
POWER_DOWN, POWER_UP, POWER_CYCLE, HARD_RESET, SOFT_SHUTDOWN = 0, 1, 2, 3, 5
BOOT_DEVICES = {"pxe": "network", "disk": "hd"}
# Completion codes that retrying will not fix (IPMI 2.0 table 5-2).
_UNSUPPORTED_CODES = {0xC1, 0xC2, 0xC9, 0xCC, 0xD5, 0xD6}
_PRIVILEGE_CODES = {0xD4}
_AUTH_MESSAGES = ("password", "unauthorized", "privelege", "privilege", "invalid role")
_CIPHER_MESSAGES = ("cipher suite", "algorithm", "integrity payload")
_TIMEOUT_MESSAGES = ("timeout", "no longer connected", "failed to initialize")


class _CipherSession(ipmi_session.Session):
    """pyghmi's client session proposing exactly one cipher suite."""

    # pyghmi always proposes suite 17 (SHA-256) and falls back to suite 3 (SHA-1) when the BMC
    # refuses; `attemptedhash` (256 or 1) picks the proposal. The operator's choice is honoured:
    # a BMC refusing suite 17 is an error, not a silent downgrade.

    proposal: ClassVar[int] = 256

    def _initsession(self):
        super()._initsession()
        self.attemptedhash = self.proposal

    def _got_rmcp_response(self, data):
        if len(data) > 1 and data[1] != 0 and self.attemptedhash == 256:
            self.attemptedhash = 0  # anything but 256 makes pyghmi report instead of retrying
        return super()._got_rmcp_response(data)


class _Suite3Session(_CipherSession):
    """Cipher suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128."""

    proposal = 1


class _Suite17Session(_CipherSession):
    """Cipher suite 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128."""

    proposal = 256


SESSION_CLASSES = {"3": _Suite3Session, "17": _Suite17Session}


class _Command(ipmi_command.Command):
    """pyghmi's Command on a session we built, with no OEM probing (plain chassis commands)."""

    def __init__(self, ipmi_session_: ipmi_session.Session) -> None:  # noqa: D107
        # Command.__init__ would build its own session (always suite 17 first); set the same
        # attributes it sets, and the generic OEM handler so no Get Device ID probe is sent.
        self.ipmi_session = ipmi_session_
        self.bmc = ipmi_session_.bmc
        self.onlogon = None
        self._sdrcachedir = self._sdr = self._netchannel = self._ipv6support = None
        self.certverify = None
        self.kwargs = {}
        self._oem = generic_oem.OEMHandler(None, None)
        self._oemknown = True

    def checked(self, netfn: int, command: int, data=()) -> dict[str, Any]:
        """Send a raw command; raise on transport errors and non-zero completion codes."""
        response = self.raw_command(netfn=netfn, command=command, data=data)
        if "error" in response:
            raise pyghmi_exc.IpmiException(response["error"], response.get("code", 0))
        if response.get("code"):
            code = response["code"]
            raise pyghmi_exc.IpmiException(f"completion code 0x{code:02x}", code)
        return response


# pyghmi's synchronous login runs the process-wide event loop (Session.wait_for_rsp), which
# also handles other sessions' packets; two threads logging in at once race on that shared
# state and lose logins. Logins are therefore one at a time per process; commands on
# established sessions (which only read their own packet queue) still run in parallel.
_login_lock = threading.Lock()
_locks_guard = threading.Lock()
_bmc_locks: dict[tuple[str, int], threading.Lock] = {}


def _bmc_lock(address: str, port: int) -> threading.Lock:
    """One call at a time per BMC: pyghmi shares sessions that are logging in to the same BMC."""
    with _locks_guard:
        return _bmc_locks.setdefault((address, port), threading.Lock())


def map_error(error: BaseException) -> PowerError:
    """Translate pyghmi and socket errors into fatal or retryable power errors."""
    if isinstance(error, PowerError):
        return error
    if isinstance(error, socket.gaierror):
        return PowerConnectionError(f"Cannot resolve the BMC address: {error}")
    if isinstance(error, OSError):
        return PowerConnectionError(f"Cannot reach the BMC: {error}")
    code = getattr(error, "ipmicode", 0) or 0
    text = str(error)
    if text in ("", "None"):  # pyghmi gives up logging in without a message on timeouts
        return PowerTimeoutError("The BMC did not answer (IPMI session setup timed out).")
    lowered = text.lower()
    if code in _PRIVILEGE_CODES or any(word in lowered for word in _AUTH_MESSAGES):
        return PowerAuthError(f"The BMC refused the credentials: {text}")
    if any(word in lowered for word in _CIPHER_MESSAGES):
        return PowerSettingsError({"cipher_suite": [f"The BMC refused the cipher suite: {text}"]})
    if code in _UNSUPPORTED_CODES:
        return PowerUnsupportedError(f"The BMC cannot do this: {text}")
    if any(word in lowered for word in _TIMEOUT_MESSAGES):
        return PowerTimeoutError(f"The BMC did not answer: {text}")
    return PowerConnectionError(f"IPMI error: {text}")


class IPMIDriver(PowerDriver):
    """IPMI 2.0 over LAN (RMCP+), the protocol of most server BMCs."""

    name = "ipmi"
    description = "IPMI 2.0"
    queryable = True
    can_set_boot_device = True
    timeout: ClassVar[float] = 8.0  # login and operation, once this call may log in
    queue_timeout: ClassVar[float] = 60.0  # waiting behind this process's other IPMI logins
    settings = (
        SettingField("power_address", "IP address", required=True),
        SettingField("power_port", "UDP port", type="int", default=623, min_value=1,
                     max_value=65535),
        SettingField("power_user", "Power user", default=""),
        SettingField("power_pass", "Power password", type="password", default="", secret=True),
        SettingField(
            "cipher_suite", "Cipher suite ID", type="choice", default="3",
            choices=(
                ("3", "3 - HMAC-SHA1::HMAC-SHA1-96::AES-CBC-128"),
                ("17", "17 - HMAC-SHA256::HMAC-SHA256-128::AES-CBC-128"),
            ),
        ),
        SettingField(
            "privilege_level", "Privilege level", type="choice", default="OPERATOR",
            choices=(("USER", "User"), ("OPERATOR", "Operator"), ("ADMIN", "Administrator")),
        ),
        SettingField(
            "power_boot_type", "Power boot type", type="choice", default="auto",
            choices=(("auto", "Automatic"), ("efi", "EFI boot"), ("legacy", "Legacy boot")),
        ),
        SettingField("mac_address", "MAC address", type="mac", scope="node"),
    )

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        if not 0 < self.params["power_port"] < 65536:
            raise PowerSettingsError({"power_port": ["Enter a port between 1 and 65535."]})

    # Public operations -------------------------------------------------------------------

    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Set a one-time PXE boot when asked, then power on only if the host is off."""
        self._call(lambda cmd: self._power_on(cmd, netboot, efi))

    def power_off(self, *, mode: str = "hard") -> None:
        if mode not in ("soft", "hard"):
            raise PowerSettingsError({"mode": ["Choose soft or hard."]})
        directive = SOFT_SHUTDOWN if mode == "soft" else POWER_DOWN
        self._call(lambda cmd: self._power_off(cmd, directive))

    def power_cycle(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Power cycle a running host (or power on one that is off), in one session."""
        self._call(lambda cmd: self._power_cycle(cmd, netboot, efi))

    def power_query(self) -> str:
        return self._call(self._query)

    def set_boot_device(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        if device not in BOOT_DEVICES:
            raise PowerSettingsError({"device": [f"Choose one of: {', '.join(BOOT_DEVICES)}."]})
        self._call(lambda cmd: self._set_boot(cmd, device, persistent, efi))

    # Steps, each run inside a session --------------------------------------------------

    @staticmethod
    def _query(cmd: _Command) -> str:
        status = cmd.checked(netfn=0, command=1)
        return POWER_ON if status["data"][0] & 1 else POWER_OFF

    def _power_on(self, cmd: _Command, netboot: bool, efi: bool) -> None:
        if netboot:
            self._set_boot(cmd, "pxe", False, efi)
        if self._query(cmd) == POWER_OFF:
            cmd.checked(netfn=0, command=2, data=[POWER_UP])

    def _power_off(self, cmd: _Command, directive: int) -> None:
        if self._query(cmd) == POWER_ON:
            cmd.checked(netfn=0, command=2, data=[directive])

    def _power_cycle(self, cmd: _Command, netboot: bool, efi: bool) -> None:
        if netboot:
            self._set_boot(cmd, "pxe", False, efi)
        directive = POWER_CYCLE if self._query(cmd) == POWER_ON else POWER_UP
        cmd.checked(netfn=0, command=2, data=[directive])

    def _set_boot(self, cmd: _Command, device: str, persistent: bool, efi: bool) -> None:
        result = cmd.set_bootdev(BOOT_DEVICES[device], persist=persistent,
                                 uefiboot=self._efi(efi))
        if isinstance(result, dict) and "error" in result:
            raise PowerSettingsError({"device": [result["error"]]})

    def _efi(self, efi: bool) -> bool:
        boot_type = self.params.get("power_boot_type", "auto")
        return efi if boot_type == "auto" else boot_type == "efi"

    # Session handling ---------------------------------------------------------------------

    def _call(self, operation: Callable[[_Command], T]) -> T:
        """Run `operation` in a fresh session, in a worker thread bounded by `timeout`.

        The deadline starts once this call may log in: waiting for other logins of this
        process (pyghmi serialises them) is local contention, not a silent BMC.
        """
        outcome: dict[str, Any] = {}
        may_login = threading.Event()
        worker = threading.Thread(
            target=self._run, args=(operation, outcome, may_login), daemon=True,
            name=f"ipmi-{self.params['power_address']}:{self.params['power_port']}",
        )
        worker.start()
        if not may_login.wait(self.queue_timeout):
            raise PowerTimeoutError(
                f"No IPMI login slot for {self._target()} within {self.queue_timeout:g} s."
            )
        worker.join(self.timeout)
        if worker.is_alive():
            raise PowerTimeoutError(
                f"The BMC at {self._target()} did not answer within {self.timeout:g} s."
            )
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _run(self, operation: Callable[[_Command], T], outcome: dict[str, Any],
             may_login: threading.Event) -> None:
        address, port = self.params["power_address"], self.params["power_port"]
        lock = _bmc_lock(address, port)
        if not lock.acquire(timeout=self.queue_timeout):
            outcome["error"] = PowerTimeoutError(f"Another call to {self._target()} is stuck.")
            may_login.set()
            return
        try:
            session = self._login(may_login)
            try:
                outcome["value"] = operation(_Command(session))
            finally:
                _logout(session)
        except Exception as exc:  # every failure is reported as a PowerError
            outcome["error"] = map_error(exc)
        finally:
            may_login.set()
            lock.release()

    def _login(self, may_login: threading.Event) -> ipmi_session.Session:
        with _login_lock:
            may_login.set()
            return self._new_session()

    def _new_session(self) -> ipmi_session.Session:
        session_class = SESSION_CLASSES[self.params["cipher_suite"]]
        # Bytes, not str: pyghmi keys sessions being set up by the credentials as given and
        # forgets them with the encoded ones, so str credentials leave a stale entry that the
        # next session to the same BMC is handed (already logged out) instead of a new one.
        return session_class(
            bmc=self.params["power_address"],
            userid=self.params.get("power_user", "").encode(),
            password=self.params.get("power_pass", "").encode(), port=self.params["power_port"],
            privlevel=PRIVILEGES[self.params["privilege_level"]], keepalive=False,
        )

    def _target(self) -> str:
        return f"{self.params['power_address']}:{self.params['power_port']}"


def _logout(session: ipmi_session.Session) -> None:
    """Close the session (pyghmi sends Close Session without waiting for the answer)."""
    try:
        session.logout()
    except Exception:  # a failed logout must not hide the operation's result
        pass
    for key, pending in list(ipmi_session.Session.initting_sessions.items()):
        if pending is session:
            ipmi_session.Session.initting_sessions.pop(key, None)
