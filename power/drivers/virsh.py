"""Virsh power driver and chassis discovery: libvirt domains, through libvirt's Python binding.

Parameters follow MAAS's `virsh` power type: power_address (a libvirt URI: qemu:///system,
qemu+ssh://user@host/system, qemu+unix:///system?socket=...), power_pass (optional, for SSH) and
power_id (node scope: the domain's name).

One-time network boot: libvirt has no "boot from the network next time" switch, so power on with
netboot defines the domain with the network first, starts it, and at once defines its saved
configuration back. The running domain keeps the network first for its life (a reboot from inside
the guest netboots again, which the region answers as it does for any reboot); the next start
after a power off boots as configured. set_boot_device(persistent=True) changes that
configuration; without persistent it leaves a mark in the domain's metadata that the next power
on consumes the same way.

SSH passwords: with power_pass, a qemu+ssh:// URI is opened through libvirt's built-in libssh
transport (qemu+libssh://, password authentication, a new host key accepted as MAAS does), which
asks for the password through the auth callback; the password never reaches a command line, the
environment or a log. Without it, qemu+ssh:// uses the ssh command and its keys, as virsh does.
`efi` is ignored: a domain boots the firmware its definition names.
"""
from __future__ import annotations

import getpass
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from power.drivers.base import (
    BOOT_DEVICES,
    POWER_OFF,
    POWER_ON,
    PowerAuthError,
    PowerConnectionError,
    PowerDriver,
    PowerError,
    PowerFatalError,
    PowerSettingsError,
    PowerTimeoutError,
    PowerUnsupportedError,
    SettingField,
)
from power.drivers.chassis import DiscoveredSystem
from power.drivers.virsh_xml import (
    BOOT_DEVS,
    domain_architecture,
    domain_macs,
    first_boot_device,
    with_boot_first,
)

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
METADATA_URI = "http://maasproject.invalid/virsh/1.0"  # our element in the domain's <metadata>
METADATA_KEY = "metal"
# virDomainState -> ours: a paused, blocked, suspended or shutting-down domain still runs.
OFF_STATES = (5, 6)  # VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_CRASHED
# What libvirt (or ssh under it) says when it was refused rather than not reached.
AUTH_WORDS = ("authentication", "Permission denied")


def _libvirt():
    """The libvirt binding, imported when used: the region needs this module's schema only."""
    try:
        import libvirt
    except ImportError:
        raise PowerFatalError("The libvirt Python binding is not installed on this rack "
                              "(pip install libvirt-python, which needs libvirt-dev).") from None
    # libvirt prints every error to stderr by default; ours are raised and reported instead.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


class VirshDriver(PowerDriver):
    """Libvirt domains (qemu/KVM and others) over a libvirt URI, as MAAS's virsh power type."""

    name = "virsh"
    description = "Virsh (virtual systems)"
    can_set_boot_device = True
    settings = (
        SettingField("power_address", "Address (libvirt URI)", required=True),
        SettingField("power_pass", "Password (optional, for qemu+ssh)", type="password"),
        SettingField("power_id", "Virsh VM ID (domain name)", required=True, scope="node"),
    )

    @classmethod
    def check_settings(cls, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        address = cleaned.get("power_address")
        if address is None:
            return {}
        parts = urlsplit(address)
        if not _SCHEME.match(parts.scheme) or "://" not in address:
            return {"power_address": ["Enter a libvirt URI such as qemu:///system or "
                                      "qemu+ssh://user@host/system."]}
        if parts.password is not None:
            return {"power_address": ["Put the password in power_pass, not in the URI."]}
        return {}

    # Operations -------------------------------------------------------------------------

    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Start the domain if it is off: from the network once when netboot is asked (or a
        one-time boot device was set), else as configured."""
        with self._domain() as domain:
            if domain.isActive():
                return  # a one-time boot device stays for the next start
            once = self._take_boot_once(domain)
            device = "pxe" if netboot else once
            if device:
                self._start_booting(domain, device)
            else:
                domain.create()

    def power_off(self, *, mode: str = "hard") -> None:
        """soft: ask the guest (ACPI shutdown); hard: stop qemu at once (destroy)."""
        if mode not in ("soft", "hard"):
            raise PowerSettingsError({"mode": ["Choose soft or hard."]})
        with self._domain() as domain:
            if not domain.isActive():
                return
            if mode == "soft":
                domain.shutdown()
            else:
                domain.destroy()

    def power_query(self) -> str:
        with self._domain() as domain:
            return _power_state(domain)

    def set_boot_device(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        """persistent: the domain's configuration boots from `device` first from now on;
        otherwise the next power on does, once."""
        if device not in BOOT_DEVICES:
            raise PowerSettingsError({"device": [f"Choose one of: {', '.join(BOOT_DEVICES)}."]})
        libvirt = _libvirt()
        with self._domain() as domain:
            if persistent:
                self._define(domain, with_boot_first(self._config_xml(domain), device))
                domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None,
                                   METADATA_URI, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            else:
                domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                                   f"<boot-once dev='{device}'/>", METADATA_KEY, METADATA_URI,
                                   libvirt.VIR_DOMAIN_AFFECT_CONFIG)

    # Helpers ----------------------------------------------------------------------------

    def _domain(self) -> _DomainSession:
        return _DomainSession(self.params, self.params["power_id"])

    def _config_xml(self, domain) -> str:
        """The persistent configuration, secrets included, as `virsh edit` reads it."""
        libvirt = _libvirt()
        return domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)

    def _define(self, domain, xml: str) -> None:
        domain.connect().defineXML(xml)

    def _start_booting(self, domain, device: str) -> None:
        """Start with `device` first, then put the saved configuration back."""
        saved = self._config_xml(domain)
        if first_boot_device(saved) == BOOT_DEVS[device] or not domain.isPersistent():
            domain.create()
            return
        self._define(domain, with_boot_first(saved, device))
        try:
            domain.create()
        finally:
            self._define(domain, saved)

    def _take_boot_once(self, domain) -> str:
        """The one-time boot device set_boot_device left ("" if none), cleared."""
        libvirt = _libvirt()
        try:
            mark = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_URI,
                                   libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                return ""
            raise
        domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, METADATA_URI,
                           libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        found = re.search(r"dev=['\"](\w+)['\"]", mark)
        return found.group(1) if found and found.group(1) in BOOT_DEVS else ""


def _power_state(domain) -> str:
    return POWER_OFF if domain.state()[0] in OFF_STATES else POWER_ON


def connection_uri(address: str, password: str | None) -> str:
    """The URI to open: qemu+ssh with a password goes through libvirt's libssh transport
    (which asks the auth callback), accepting a new host key as MAAS does."""
    parts = urlsplit(address)
    if not password or not parts.scheme.endswith("+ssh"):
        return address
    query = dict(parse_qsl(parts.query))
    query.setdefault("known_hosts_verify", "auto")
    query.setdefault("sshauth", "password")
    scheme = parts.scheme[: -len("+ssh")] + "+libssh"
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(query)))


def connect(params: dict[str, Any]):
    """An open libvirt connection for these parameters (errors mapped to ours)."""
    libvirt = _libvirt()
    address, password = params["power_address"], params.get("power_pass") or None
    uri = connection_uri(address, password)
    try:
        if password is None:
            return libvirt.open(uri)
        credentials = [libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE,
                       libvirt.VIR_CRED_NOECHOPROMPT]
        user = urlsplit(address).username or getpass.getuser()
        return libvirt.openAuth(uri, [credentials, _answer(user, password), None], 0)
    except libvirt.libvirtError as exc:
        raise map_error(exc, address, password, connecting=True) from None


def _answer(user: str, password: str):
    """libvirt's auth callback: the password for password prompts, once (libssh asks again
    after a refusal, forever); the URI's user (else ours) for user name prompts."""
    asked = []

    def callback(credentials, _opaque) -> int:
        libvirt = _libvirt()
        for credential in credentials:
            if credential[0] in (libvirt.VIR_CRED_PASSPHRASE, libvirt.VIR_CRED_NOECHOPROMPT):
                if asked:
                    return -1  # refused once already: the same password will not do
                asked.append(True)
                credential[4] = password
            elif credential[0] == libvirt.VIR_CRED_AUTHNAME:
                credential[4] = credential[3] or user
            else:
                return -1
        return 0
    return callback


def map_error(exc: Exception, address: str, password: str | None, *,
              connecting: bool = False, domain: str = "") -> PowerError:
    """Our error class for a libvirtError, its message naming the address (and domain), never
    a secret."""
    libvirt = _libvirt()
    code = exc.get_error_code()
    text = str(exc.get_error_message() or exc)
    if password:
        text = text.replace(password, "********")
    message = f"libvirt at {address}{f' (domain {domain})' if domain else ''}: {text}"
    if code in (libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_CANCELLED,
                libvirt.VIR_ERR_AUTH_UNAVAILABLE, libvirt.VIR_ERR_ACCESS_DENIED) or (
            connecting and any(word in text for word in AUTH_WORDS)):
        return PowerAuthError(message)
    if code == libvirt.VIR_ERR_NO_DOMAIN:
        return PowerFatalError(message)
    if code in (libvirt.VIR_ERR_OPERATION_TIMEOUT, libvirt.VIR_ERR_AGENT_UNRESPONSIVE):
        return PowerTimeoutError(message)
    if code in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
        return PowerUnsupportedError(message)
    if connecting or code in (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC,
                              libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INTERNAL_ERROR):
        return PowerConnectionError(message)
    return PowerFatalError(message)


class _DomainSession:
    """`with` a connection and the domain: closes the connection, maps libvirt's errors."""

    def __init__(self, params: dict[str, Any], name: str) -> None:
        self.params, self.name, self.conn = params, name, None

    def __enter__(self):
        self.conn = connect(self.params)
        libvirt = _libvirt()
        try:
            return self.conn.lookupByName(self.name)
        except libvirt.libvirtError as exc:
            self.conn.close()
            raise self._mapped(exc) from None

    def __exit__(self, exc_type, exc, _tb) -> bool:
        self.conn.close()
        if exc is not None and isinstance(exc, _libvirt().libvirtError):
            raise self._mapped(exc) from None
        return False

    def _mapped(self, exc) -> PowerError:
        return map_error(exc, self.params["power_address"], self.params.get("power_pass"),
                         domain=self.name)


def discover(params: dict[str, Any]) -> list[DiscoveredSystem]:
    """Every domain behind the libvirt URI (BMC-scope parameters of the virsh type)."""
    cleaned = VirshDriver.validate_settings(params, scope="bmc")
    libvirt = _libvirt()
    conn = connect(cleaned)
    try:
        return sorted((_discovered(domain) for domain in conn.listAllDomains()),
                      key=lambda system: system.identifier)
    except libvirt.libvirtError as exc:
        raise map_error(exc, cleaned["power_address"], cleaned.get("power_pass")) from None
    finally:
        conn.close()


def _discovered(domain) -> DiscoveredSystem:
    xml = domain.XMLDesc(0)
    name = domain.name()
    return DiscoveredSystem(identifier=name, name=name, node_parameters={"power_id": name},
                            macs=domain_macs(xml), architecture=domain_architecture(xml),
                            power_state=_power_state(domain))
