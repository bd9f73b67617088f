"""Webhook power driver: HTTP calls to URIs of the operator's choice (MAAS's parameters)."""
from __future__ import annotations

import base64
import http.client
import logging
import re
import socket
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from power.drivers.base import (
    POWER_OFF,
    POWER_ON,
    PowerAuthError,
    PowerConnectionError,
    PowerDriver,
    PowerFatalError,
    PowerRetryableError,
    PowerTimeoutError,
    SettingField,
)

logger = logging.getLogger(__name__)
METHODS = ("POST", "PUT", "GET", "PATCH", "DELETE")
# MAAS's defaults: they match a JSON reply like {"status": "running"} / {"status": "stopped"}.
DEFAULT_ON_REGEX = r"status.*\:.*running"
DEFAULT_OFF_REGEX = r"status.*\:.*stopped"
URI_FIELDS = ("power_on_uri", "power_off_uri", "power_query_uri")
REGEX_FIELDS = ("power_on_regex", "power_off_regex")
MAX_REPLY = 1024 * 1024
USER_AGENT = "metal-power-webhook/1"


def redact_uri(uri: str) -> str:
    """The URI without credentials, query or fragment: safe for messages and logs."""
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _uri_errors(uri: str) -> list[str]:
    if any(char.isspace() or not char.isprintable() for char in uri):
        return ["A URI cannot contain spaces or control characters."]
    try:
        parts = urlsplit(uri)
        port = parts.port  # ValueError on a port that is no number or beyond 65535
    except ValueError:
        return ["Enter a valid URI (a port is 1 to 65535)."]
    if port == 0:
        return ["Enter a valid URI (a port is 1 to 65535)."]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ["Enter an http:// or https:// URI with a host."]
    if "@" in parts.netloc:
        return ["Put credentials in power_user/power_pass or power_token, not in the URI."]
    return []


def _regex_errors(pattern: str) -> list[str]:
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"Enter a valid regular expression ({exc.msg})."]
    return []


class WebhookDriver(PowerDriver):
    """Powers a machine by calling one URI per action and reads the state with two regexes."""

    name = "webhook"
    description = "Webhook"
    queryable = True
    can_set_boot_device = False
    settings = (
        # All BMC scope, as in MAAS: the hook is the machine's "BMC" (power_on_uri its address).
        SettingField("power_on_uri", "URI to power on the node", required=True),
        SettingField("power_off_uri", "URI to power off the node", required=True),
        SettingField("power_query_uri", "URI to query the node's power status", required=True),
        SettingField(
            "power_method", "HTTP method for power on and off", type="choice", default="POST",
            choices=tuple((method, method) for method in METHODS),
        ),
        SettingField("power_on_regex", "Regex to confirm the node is on", default=DEFAULT_ON_REGEX),
        SettingField(
            "power_off_regex", "Regex to confirm the node is off", default=DEFAULT_OFF_REGEX
        ),
        SettingField("power_user", "Power user (HTTP basic auth)"),
        SettingField("power_pass", "Power password (HTTP basic auth)", type="password"),
        SettingField(
            "power_token", "Power token (Bearer; used in place of user and password)",
            type="password",
        ),
        SettingField(
            "power_verify_ssl", "Verify TLS certificates with the system CAs",
            type="bool", default=False,
        ),
        SettingField(
            "timeout", "Seconds to wait for each reply", type="int", default=10,
            min_value=1, max_value=300,
        ),
    )

    @classmethod
    def check_settings(cls, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        """URIs must be http(s) without embedded credentials; regexes must compile."""
        errors = {name: _uri_errors(cleaned[name]) for name in URI_FIELDS if name in cleaned}
        errors |= {name: _regex_errors(cleaned[name]) for name in REGEX_FIELDS if name in cleaned}
        return {name: messages for name, messages in errors.items() if messages}

    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Call power_on_uri (a webhook cannot set a boot device: netboot is up to the hook)."""
        self._request(self.params["power_method"], self.params["power_on_uri"])

    def power_off(self, *, mode: str = "hard") -> None:
        """Call power_off_uri (the hook decides how hard)."""
        self._request(self.params["power_method"], self.params["power_off_uri"])

    def power_query(self) -> str:
        """GET power_query_uri and match the reply with power_on_regex, then power_off_regex."""
        body = self._request("GET", self.params["power_query_uri"])
        if re.search(self.params["power_on_regex"], body):
            return POWER_ON
        if re.search(self.params["power_off_regex"], body):
            return POWER_OFF
        raise PowerFatalError(
            f"Webhook reply from {redact_uri(self.params['power_query_uri'])} matched neither "
            f"power_on_regex nor power_off_regex: {self._excerpt(body)!r}"
        )

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        token, user = self.params.get("power_token"), self.params.get("power_user")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            pair = f"{user}:{self.params.get('power_pass', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return headers

    def _opener(self) -> urllib.request.OpenerDirector:
        context = ssl.create_default_context()
        if not self.params["power_verify_ssl"]:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        # No proxies: BMC-side hooks live on the machines' networks, not behind a web proxy.
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def _request(self, method: str, uri: str) -> str:
        """Send the request; return the reply body as text or raise a PowerError."""
        request = urllib.request.Request(uri, method=method)
        for header, value in self._headers().items():
            # Unredirected: credentials are never sent on to wherever a redirect points.
            request.add_unredirected_header(header, value)
        safe_uri = redact_uri(uri)
        logger.debug("Webhook %s %s", method, safe_uri)
        try:
            with self._opener().open(request, timeout=self.params["timeout"]) as reply:
                body = reply.read(MAX_REPLY)
                charset = reply.headers.get_content_charset() or "utf-8"
        except urllib.error.HTTPError as exc:
            exc.close()
            raise self._http_error(method, safe_uri, exc.code) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise self._transport_error(method, safe_uri, exc) from None
        logger.debug("Webhook %s %s answered", method, safe_uri)
        return body.decode(charset, errors="replace")

    def _http_error(self, method: str, safe_uri: str, status: int) -> Exception:
        message = f"Webhook {method} {safe_uri} answered HTTP {status}."
        if status in (401, 403):
            return PowerAuthError(message)
        if status >= 500 or status in (408, 429):
            return PowerRetryableError(message)
        return PowerFatalError(message)

    def _transport_error(self, method: str, safe_uri: str, exc: Exception) -> Exception:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, socket.timeout | TimeoutError):
            return PowerTimeoutError(
                f"Webhook {method} {safe_uri}: no reply within {self.params['timeout']} s."
            )
        if isinstance(reason, ssl.SSLCertVerificationError):
            detail = reason.verify_message
            return PowerFatalError(f"Webhook {method} {safe_uri}: bad certificate ({detail}).")
        return PowerConnectionError(
            f"Webhook {method} {safe_uri}: cannot connect ({type(reason).__name__}: {reason})."
        )

    def _excerpt(self, body: str, limit: int = 120) -> str:
        """The start of a reply body, with any secret parameter blanked out."""
        text = body[:limit]
        secrets = [self.params.get(name) for name in self.secret_fields()]
        secrets.append(self._headers().get("Authorization", " ").split(" ", 1)[1])
        for secret in filter(None, secrets):
            text = text.replace(secret, "********")
        return text
