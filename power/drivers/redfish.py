"""Redfish power driver: ComputerSystem.Reset and one-time boot override over HTTPS, stdlib only.

Parameters follow MAAS's redfish driver (power_address, power_user, power_pass, node_id) plus:

- power_verify_ssl (default false): most BMCs ship self-signed certificates, so verification is
  opt-in, as in MAAS (which never verifies). Turn it on when the BMC has a trusted certificate.
- power_auth (default session): log in with POST to the SessionService, use X-Auth-Token and
  DELETE the session afterwards. A BMC whose service root has no SessionService (sushy-tools)
  falls back to HTTP Basic; `basic` sends Basic credentials on every request.
- node_id: a member id of /redfish/v1/Systems or a path; empty means "the only system".
- power_timeout: seconds for each HTTP request.

The password is never logged, never put in a URL and is scrubbed from every error message.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
from typing import Any
from urllib.parse import quote, urlsplit

from power.drivers.base import (
    POWER_OFF,
    POWER_ON,
    PowerAuthError,
    PowerConnectionError,
    PowerDriver,
    PowerFatalError,
    PowerSettingsError,
    PowerTimeoutError,
    PowerUnsupportedError,
    SettingField,
)

logger = logging.getLogger(__name__)

SERVICE_ROOT = "/redfish/v1/"
SYSTEMS = "/redfish/v1/Systems"
DEFAULT_SESSIONS = "/redfish/v1/SessionService/Sessions"
RESET_ACTION = "#ComputerSystem.Reset"
ON_STATES = {"on": POWER_ON, "poweringon": POWER_ON, "paused": POWER_ON}
OFF_STATES = {"off": POWER_OFF, "poweringoff": POWER_OFF}
OFF_RESET = {"hard": "ForceOff", "soft": "GracefulShutdown"}
BOOT_TARGETS = {"pxe": "Pxe", "disk": "Hdd"}
MAX_MESSAGE = 400


class RedfishAddress:
    """A parsed power_address: scheme, host and port."""

    def __init__(self, address: str) -> None:
        text = address.strip()
        if text.count(":") > 1 and "[" not in text and "//" not in text:
            text = f"[{text}]"
        parts = urlsplit(text if "//" in text else f"https://{text}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("Enter host[:port] or an http(s):// URL.")
        if parts.path.rstrip("/") not in ("", "/redfish/v1") or parts.query or parts.username:
            raise ValueError("Enter the BMC's address without a path or credentials.")
        try:
            port = parts.port
        except ValueError as exc:  # not a number, or beyond 65535
            raise ValueError("Enter a port from 1 to 65535.") from exc
        if port == 0:
            raise ValueError("Enter a port from 1 to 65535.")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port or (443 if parts.scheme == "https" else 80)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class RedfishClient:
    """One conversation with a BMC: authenticated JSON requests, sessions, error mapping."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.address = RedfishAddress(params["power_address"])
        self.user = params["power_user"]
        self.password = params["power_pass"]
        self.verify = params.get("power_verify_ssl", False)
        self.timeout = params.get("power_timeout", 20)
        self.use_session = params.get("power_auth", "session") == "session"
        self.token: str | None = None
        self.session_path: str | None = None

    def __enter__(self) -> RedfishClient:
        if self.use_session:
            self._login()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logout()

    def get(self, path: str) -> tuple[dict[str, Any], dict[str, str]]:
        """GET a resource; return its JSON body and response headers."""
        _, headers, data = self.request("GET", path)
        return data, headers

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Send an authenticated request; raise the mapped power error on failure."""
        status, resp_headers, data = self._send(method, path, body, self._auth_headers(headers))
        if status >= 400:
            raise self._http_error(method, path, status, data)
        return status, resp_headers, data

    def _auth_headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["X-Auth-Token"] = self.token
        else:
            pair = f"{self.user}:{self.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        if self.address.scheme == "http":
            return http.client.HTTPConnection(
                self.address.host, self.address.port, timeout=self.timeout
            )
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(
            self.address.host, self.address.port, timeout=self.timeout, context=context
        )

    def _send(
        self, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {"Accept": "application/json", "OData-Version": "4.0", **headers}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            status, resp_headers = response.status, dict(response.getheaders())
        except TimeoutError as exc:
            raise PowerTimeoutError(f"{self._where(method, path)}: no answer in time.") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PowerFatalError(
                f"{self._where(method, path)}: TLS certificate not trusted ({exc.verify_message});"
                " install a trusted certificate or turn off power_verify_ssl."
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = self.scrub(str(exc) or type(exc).__name__)
            raise PowerConnectionError(f"{self._where(method, path)}: {reason}") from None
        finally:
            conn.close()
        logger.debug("Redfish %s %s -> %s", method, path, status)
        return status, resp_headers, _parse_json(raw)

    def _where(self, method: str, path: str) -> str:
        return f"Redfish BMC {self.address} {method} {path}"

    def _http_error(self, method: str, path: str, status: int, data: dict[str, Any]) -> Exception:
        where = f"{self._where(method, path)}: HTTP {status}"
        detail = self.scrub(_error_message(data))
        message = f"{where}: {detail}" if detail else where
        if status in (401, 403):
            return PowerAuthError(f"{message} (user {self.user!r} was refused).")
        if status >= 500:
            return PowerConnectionError(message)
        if status in (405, 501):
            return PowerUnsupportedError(message)
        return PowerFatalError(message)

    def scrub(self, text: str) -> str:
        """Remove the password (and anything derived from it) from a message."""
        text = text[:MAX_MESSAGE]
        if self.password:
            text = text.replace(self.password, "********")
        if self.token:
            text = text.replace(self.token, "********")
        return text

    def _sessions_path(self) -> str | None:
        status, _, root = self._send("GET", SERVICE_ROOT, None, {})
        if status >= 400:
            raise self._http_error("GET", SERVICE_ROOT, status, root)
        link = (root.get("Links") or {}).get("Sessions") or {}
        if link.get("@odata.id"):
            return link["@odata.id"]
        return DEFAULT_SESSIONS if "SessionService" in root else None

    def _login(self) -> None:
        path = self._sessions_path()
        if path is None:
            logger.info("Redfish BMC %s has no SessionService; using Basic auth", self.address)
            return
        body = {"UserName": self.user, "Password": self.password}
        status, headers, data = self._send("POST", path, body, {})
        if status in (404, 405, 501):
            logger.info("Redfish BMC %s refused sessions; using Basic auth", self.address)
            return
        if status >= 400:
            raise self._http_error("POST", path, status, data)
        token = _header(headers, "X-Auth-Token")
        if not token:
            raise PowerFatalError(f"{self._where('POST', path)}: no X-Auth-Token in the answer.")
        self.token = token
        location = _header(headers, "Location") or data.get("@odata.id") or ""
        self.session_path = urlsplit(location).path or None

    def _logout(self) -> None:
        if not (self.token and self.session_path):
            self.token = None
            return
        try:
            self.request("DELETE", self.session_path)
        except Exception as exc:  # the operation's result matters more than the logout
            logger.warning("Could not close Redfish session on %s: %s", self.address, exc)
        finally:
            self.token = self.session_path = None


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _parse_json(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"error": {"message": raw.decode("utf-8", "replace").strip()}}
    return data if isinstance(data, dict) else {}


def _error_message(data: dict[str, Any]) -> str:
    """The Redfish error message with its extended info, as one line."""
    error = data.get("error")
    if not isinstance(error, dict):
        return ""
    parts = [str(error.get("message") or error.get("code") or "")]
    for info in error.get("@Message.ExtendedInfo") or []:
        if isinstance(info, dict) and info.get("Message") and info["Message"] not in parts:
            parts.append(str(info["Message"]))
    return " ".join(part for part in parts if part).strip()


class RedfishDriver(PowerDriver):
    """DMTF Redfish: ComputerSystem.Reset, PowerState, one-time boot source override."""

    name = "redfish"
    description = "Redfish"
    settings = (
        SettingField("power_address", "Redfish address (host[:port] or URL)", required=True),
        SettingField("power_user", "Redfish user", required=True),
        SettingField("power_pass", "Redfish password", "password", required=True, secret=True),
        SettingField("power_verify_ssl", "Verify the BMC's TLS certificate", "bool", default=False),
        SettingField(
            "power_auth",
            "Authentication",
            "choice",
            default="session",
            choices=(("session", "Redfish session (X-Auth-Token)"), ("basic", "HTTP Basic")),
        ),
        SettingField("node_id", "System id or path (empty: the BMC's only system)", scope="node"),
        SettingField("power_timeout", "Request timeout (seconds)", "int", default=20),
    )
    queryable = True
    can_set_boot_device = True

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._system_path: str | None = None

    @classmethod
    def check_settings(cls, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        """The address is host[:port] or an http(s) URL (port 1-65535); timeout 1-300 s."""
        errors: dict[str, list[str]] = {}
        if "power_address" in cleaned:
            try:
                RedfishAddress(cleaned["power_address"])
            except ValueError as exc:
                errors["power_address"] = [str(exc)]
        if not 1 <= cleaned.get("power_timeout", 20) <= 300:
            errors["power_timeout"] = ["Enter a number of seconds between 1 and 300."]
        return errors

    def client(self) -> RedfishClient:
        """A new client for one operation (one session)."""
        return RedfishClient(self.params)

    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Power on when off, first setting a one-time PXE boot when netboot is asked."""
        with self.client() as client:
            system, etag = self._system(client)
            if _power_state(system) == POWER_ON:
                logger.info("Redfish %s is already on; not touching it", client.address)
                return
            if netboot:
                self._override(client, "pxe", persistent=False, efi=efi, etag=etag)
            self._reset(client, system, "On")

    def power_off(self, *, mode: str = "hard") -> None:
        """Power off with ForceOff (hard) or GracefulShutdown (soft); no-op when off."""
        if mode not in OFF_RESET:
            raise PowerUnsupportedError(f"Unknown power off mode {mode!r}; use hard or soft.")
        with self.client() as client:
            system, _ = self._system(client)
            if _power_state(system) == POWER_OFF:
                return
            self._reset(client, system, OFF_RESET[mode])

    def power_cycle(self, *, netboot: bool = False, efi: bool = False) -> None:
        """ForceRestart a running system, power on a stopped one."""
        with self.client() as client:
            system, etag = self._system(client)
            if netboot:
                self._override(client, "pxe", persistent=False, efi=efi, etag=etag)
            running = _power_state(system) == POWER_ON
            self._reset(client, system, "ForceRestart" if running else "On")

    def power_query(self) -> str:
        """Return on or off from the system's PowerState."""
        with self.client() as client:
            system, _ = self._system(client)
            return _power_state(system)

    def set_boot_device(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        """Set the boot source override (Once, or Continuous when persistent)."""
        with self.client() as client:
            _, etag = self._system(client)
            self._override(client, device, persistent=persistent, efi=efi, etag=etag)

    def system_path(self, client: RedfishClient) -> str:
        """The system's path: node_id, or the single member of the Systems collection."""
        if self._system_path is None:
            self._system_path = self._find_system(client)
        return self._system_path

    def _find_system(self, client: RedfishClient) -> str:
        node_id = (self.params.get("node_id") or "").strip()
        if node_id:
            return node_id if node_id.startswith("/") else f"{SYSTEMS}/{quote(node_id, safe='')}"
        collection, _ = client.get(SYSTEMS)
        members = [m.get("@odata.id") for m in collection.get("Members") or []]
        members = [m for m in members if m]
        if len(members) == 1:
            return members[0]
        if not members:
            raise PowerFatalError(f"Redfish BMC {client.address} lists no systems.")
        ids = ", ".join(m.rstrip("/").rsplit("/", 1)[-1] for m in members)
        raise PowerSettingsError(
            {"node_id": [f"The BMC has {len(members)} systems ({ids}); set node_id to one."]}
        )

    def _system(self, client: RedfishClient) -> tuple[dict[str, Any], str | None]:
        system, headers = client.get(self.system_path(client))
        return system, _header(headers, "ETag")

    def _reset(self, client: RedfishClient, system: dict[str, Any], reset_type: str) -> None:
        action = (system.get("Actions") or {}).get(RESET_ACTION)
        if not isinstance(action, dict) or not action.get("target"):
            raise PowerUnsupportedError(
                f"Redfish system {self._system_path} has no ComputerSystem.Reset action."
            )
        allowed = action.get("ResetType@Redfish.AllowableValues")
        if allowed and reset_type not in allowed:
            raise PowerUnsupportedError(
                f"Redfish system {self._system_path} does not allow ResetType {reset_type}"
                f" (allowed: {', '.join(allowed)})."
            )
        logger.info("Redfish %s %s: ResetType %s", client.address, self._system_path, reset_type)
        client.request("POST", action["target"], {"ResetType": reset_type})

    def _override(
        self, client: RedfishClient, device: str, *, persistent: bool, efi: bool, etag: str | None
    ) -> None:
        if device not in BOOT_TARGETS:
            raise PowerUnsupportedError(f"Unknown boot device {device!r}; use pxe or disk.")
        boot = {
            "BootSourceOverrideEnabled": "Continuous" if persistent else "Once",
            "BootSourceOverrideTarget": BOOT_TARGETS[device],
        }
        if efi:
            boot["BootSourceOverrideMode"] = "UEFI"
        headers = {"If-Match": etag} if etag else None
        client.request("PATCH", self.system_path(client), {"Boot": boot}, headers)


def _power_state(system: dict[str, Any]) -> str:
    state = str(system.get("PowerState") or "")
    result = ON_STATES.get(state.lower()) or OFF_STATES.get(state.lower())
    if result is None:
        raise PowerFatalError(f"Redfish system reports an unknown PowerState {state!r}.")
    return result
