"""Webhook driver against a real HTTP server on 127.0.0.1: methods, auth, errors, secrets."""
import base64
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from power.drivers.base import (
    PowerAuthError,
    PowerConnectionError,
    PowerError,
    PowerFatalError,
    PowerRetryableError,
    PowerSettingsError,
    PowerTimeoutError,
)
from power.drivers.webhook import DEFAULT_OFF_REGEX, DEFAULT_ON_REGEX, WebhookDriver, redact_uri

TOKEN = "tok-SECRET-0123456789"
PASSWORD = "pw-SECRET-9876543210"


class Handler(BaseHTTPRequestHandler):
    """Answers from the server's `routes`: path -> (status, body, delay seconds)."""

    def _answer(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server.received.append((self.command, self.path, dict(self.headers), body))
        status, reply, delay = server.routes.get(self.path, (404, "not found", 0))
        time.sleep(delay)
        if reply == "ECHO":
            reply = json.dumps({"status": "weird", "auth": self.headers.get("Authorization")})
        data = reply.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout tests)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

    def log_message(self, *args):
        """Keep test output quiet."""


class Server(ThreadingHTTPServer):
    """A local webhook target that records what it received."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes = {}
        self.received = []

    @property
    def base(self):
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return thread


@pytest.fixture
def server():
    srv = Server()
    srv.routes = {
        "/on": (200, "ok", 0),
        "/off": (200, "ok", 0),
        "/query-on": (200, '{"status": "running"}', 0),
        "/query-off": (200, '{"status" : "stopped"}', 0),
    }
    thread = _serve(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def driver_for(server, query="/query-on", **params):
    base = server.base
    defaults = {
        "power_on_uri": f"{base}/on", "power_off_uri": f"{base}/off",
        "power_query_uri": f"{base}{query}",
    }
    return WebhookDriver(defaults | params)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_no_secrets(*texts):
    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    for text in texts:
        assert TOKEN not in text and PASSWORD not in text and basic not in text


def test_maas_defaults_and_schema():
    params = WebhookDriver({"power_on_uri": "http://h/on", "power_off_uri": "http://h/off",
                            "power_query_uri": "http://h/q"}).params
    assert params["power_on_regex"] == DEFAULT_ON_REGEX == r"status.*\:.*running"
    assert params["power_off_regex"] == DEFAULT_OFF_REGEX == r"status.*\:.*stopped"
    assert params["power_method"] == "POST" and params["power_verify_ssl"] is False
    assert params["timeout"] == 10
    assert WebhookDriver.secret_fields() == frozenset({"power_pass", "power_token"})
    json.dumps(WebhookDriver.describe())


def test_on_and_off_use_power_method(server):
    driver_for(server).power_on()
    driver_for(server, power_method="PUT").power_off(mode="soft")
    assert [(m, p) for m, p, _, _ in server.received] == [("POST", "/on"), ("PUT", "/off")]
    headers = server.received[0][2]
    assert headers["Accept"] == "application/json" and "Authorization" not in headers


def test_cycle_is_off_then_on(server):
    driver_for(server).power_cycle()
    assert [p for _, p, _, _ in server.received] == ["/off", "/on"]


def test_query_with_default_regexes(server):
    assert driver_for(server, "/query-on").power_query() == "on"
    assert driver_for(server, "/query-off").power_query() == "off"
    assert [m for m, _, _, _ in server.received] == ["GET", "GET"]


def test_query_with_custom_regexes(server):
    server.routes["/plug"] = (200, "relay=CLOSED", 0)
    custom = {"power_on_regex": "relay=CLOSED", "power_off_regex": "relay=OPEN"}
    assert driver_for(server, "/plug", **custom).power_query() == "on"
    server.routes["/plug"] = (200, "relay=OPEN", 0)
    assert driver_for(server, "/plug", **custom).power_query() == "off"


def test_query_matching_neither_regex_is_a_clear_fatal_error(server):
    server.routes["/q"] = (200, '{"status": "rebooting"}', 0)
    with pytest.raises(PowerFatalError) as info:
        driver_for(server, "/q").power_query()
    message = str(info.value)
    assert "matched neither power_on_regex nor power_off_regex" in message
    assert "rebooting" in message and f"{server.base}/q" in message
    assert not info.value.retryable


def test_bearer_token(server, caplog):
    caplog.set_level(logging.DEBUG)
    driver_for(server, power_token=TOKEN, power_user="admin", power_pass=PASSWORD).power_on()
    assert server.received[0][2]["Authorization"] == f"Bearer {TOKEN}"
    assert_no_secrets(caplog.text)


def test_basic_auth(server, caplog):
    caplog.set_level(logging.DEBUG)
    driver_for(server, power_user="admin", power_pass=PASSWORD).power_query()
    expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert server.received[0][2]["Authorization"] == f"Basic {expected}"
    assert "Webhook GET" in caplog.text
    assert_no_secrets(caplog.text)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_auth_errors(server, caplog, status):
    caplog.set_level(logging.DEBUG)
    server.routes["/on"] = (status, "denied", 0)
    with pytest.raises(PowerAuthError) as info:
        driver_for(server, power_token=TOKEN).power_on()
    assert f"HTTP {status}" in str(info.value) and not info.value.retryable
    logging.getLogger("test").exception("power failed", exc_info=info.value)
    assert_no_secrets(str(info.value), repr(info.value), caplog.text)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_retryable(server, status):
    server.routes["/off"] = (status, "busy", 0)
    with pytest.raises(PowerRetryableError) as info:
        driver_for(server, power_user="admin", power_pass=PASSWORD).power_off()
    assert info.value.retryable and f"HTTP {status}" in str(info.value)
    assert_no_secrets(str(info.value))


@pytest.mark.parametrize("status", [400, 404, 405, 422])
def test_other_client_errors_are_fatal(server, status):
    server.routes["/on"] = (status, "no", 0)
    with pytest.raises(PowerFatalError) as info:
        driver_for(server).power_on()
    assert not isinstance(info.value, PowerAuthError) and not info.value.retryable


def test_connection_refused_is_retryable(caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    driver = WebhookDriver({"power_on_uri": f"{base}/on?key={TOKEN}", "power_off_uri": base,
                            "power_query_uri": base, "power_pass": PASSWORD,
                            "power_user": "admin"})
    with pytest.raises(PowerConnectionError) as info:
        driver.power_on()
    assert info.value.retryable and "cannot connect" in str(info.value)
    logging.getLogger("test").exception("power failed", exc_info=info.value)
    assert_no_secrets(str(info.value), caplog.text)


def test_slow_reply_is_a_retryable_timeout(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.routes["/slow"] = (200, '{"status": "running"}', 2)
    started = time.monotonic()
    with pytest.raises(PowerTimeoutError) as info:
        driver_for(server, "/slow", timeout=1, power_token=TOKEN).power_query()
    assert time.monotonic() - started < 1.9
    assert info.value.retryable and "no reply within 1 s" in str(info.value)
    assert_no_secrets(str(info.value), caplog.text)


def test_echoed_credentials_are_blanked_in_errors(server, caplog):
    server.routes["/echo"] = (200, "ECHO", 0)
    for auth in ({"power_token": TOKEN}, {"power_user": "admin", "power_pass": PASSWORD}):
        with pytest.raises(PowerFatalError) as info:
            driver_for(server, "/echo", **auth).power_query()
        assert "********" in str(info.value)
        assert_no_secrets(str(info.value), caplog.text)


def test_query_string_is_left_out_of_messages(server):
    server.routes["/on?key=" + TOKEN] = (500, "", 0)
    with pytest.raises(PowerError) as info:
        driver_for(server, power_on_uri=f"{server.base}/on?key={TOKEN}").power_on()
    assert f"{server.base}/on answered HTTP 500" in str(info.value)
    assert_no_secrets(str(info.value))


def test_redact_uri():
    assert redact_uri("https://u:p@bmc:8443/x/on?token=t#f") == "https://bmc:8443/x/on"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"power_on_uri": "ftp://host/on"}, "power_on_uri"),
        ({"power_off_uri": "not a uri"}, "power_off_uri"),
        ({"power_query_uri": "http://admin:pw@host/q"}, "power_query_uri"),
        ({"power_query_uri": "http://host:99999/q"}, "power_query_uri"),
        ({"power_query_uri": "http://host:0/q"}, "power_query_uri"),
        ({"power_on_regex": "status(("}, "power_on_regex"),
        ({"power_method": "BREW"}, "power_method"),
        ({"timeout": 0}, "timeout"),
        ({"power_verify_ssl": "sometimes"}, "power_verify_ssl"),
    ],
)
def test_settings_validated(params, field):
    base = {"power_on_uri": "http://h/on", "power_off_uri": "http://h/off",
            "power_query_uri": "http://h/q"}
    with pytest.raises(PowerSettingsError) as info:
        WebhookDriver(base | params)
    assert list(info.value.errors) == [field]
    assert "pw@" not in str(info.value)


def test_uris_are_required():
    with pytest.raises(PowerSettingsError) as info:
        WebhookDriver({"power_token": TOKEN})
    assert set(info.value.errors) == {"power_on_uri", "power_off_uri", "power_query_uri"}
    assert_no_secrets(str(info.value))


@pytest.fixture
def tls_server(tmp_path):
    if not shutil.which("openssl") and os.environ.get("CI") != "true":
        pytest.skip("openssl is needed to make a self-signed certificate; CI runs this test")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    srv = Server()
    srv.routes = {"/query-on": (200, '{"status": "running"}', 0)}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    thread = _serve(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_tls_without_verification_accepts_self_signed(tls_server):
    assert tls_server.base.startswith("https://")
    assert driver_for(tls_server, power_verify_ssl=False).power_query() == "on"


def test_tls_with_verification_refuses_self_signed(tls_server):
    with pytest.raises(PowerFatalError) as info:
        driver_for(tls_server, power_verify_ssl=True).power_query()
    assert "bad certificate" in str(info.value) and not info.value.retryable
