"""Redfish driver: settings, error mapping (stub server) and operations against sushy-tools."""

from __future__ import annotations

import base64
import datetime
import importlib.util
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from power.drivers.base import (
    PowerAuthError,
    PowerConnectionError,
    PowerFatalError,
    PowerSettingsError,
    PowerTimeoutError,
)
from power.drivers.redfish import RedfishAddress, RedfishDriver
from tests.processes import skip_or_fail

USER = "admin"
PASSWORD = "Sup3r-S3cret!pw"
SYSTEM1 = "00000000-0000-0000-0000-000000000001"
SYSTEM1_PATH = f"/redfish/v1/Systems/{SYSTEM1}"
EMULATOR = Path(__file__).with_name("redfish_emulator.py")
UNVERIFIED = ssl._create_unverified_context()


def make_driver(address: str, **params) -> RedfishDriver:
    return RedfishDriver(
        {"power_address": address, "power_user": USER, "power_pass": PASSWORD, **params}
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5", "https://10.0.0.5:443"),
        ("bmc.example:8443", "https://bmc.example:8443"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://bmc/redfish/v1/", "https://bmc:443"),
        ("fe80::1", "https://[fe80::1]:443"),
    ],
)
def test_address_forms(address, expected):
    assert str(RedfishAddress(address)) == expected


@pytest.mark.parametrize("address", ["ftp://bmc", "https://bmc/other", "https://u:p@bmc",
                                     "bmc:0", "bmc:65536", "https://bmc:-1", "bmc:http"])
def test_bad_address_is_a_settings_error(address):
    with pytest.raises(PowerSettingsError) as exc:
        make_driver(address)
    assert "power_address" in exc.value.errors


def test_region_validation_checks_the_address_and_its_port():
    params = {"power_address": "bmc:99999", "power_user": "u", "power_pass": "p"}
    with pytest.raises(PowerSettingsError) as exc:
        RedfishDriver.validate_settings(params)
    assert exc.value.errors == {"power_address": ["Enter a port from 1 to 65535."]}
    assert RedfishDriver.validate_settings({**params, "power_address": "bmc:65535"})


def test_settings_defaults_and_schema():
    driver = make_driver("bmc")
    assert driver.params["power_verify_ssl"] is False
    assert driver.params["power_auth"] == "session"
    assert RedfishDriver.secret_fields() == {"power_pass"}
    assert RedfishDriver.describe()["can_set_boot_device"] is True
    with pytest.raises(PowerSettingsError) as exc:
        RedfishDriver({"power_address": "bmc", "power_auth": "digest", "power_timeout": 0})
    assert {"power_user", "power_pass", "power_auth"} <= set(exc.value.errors)


def test_driver_is_registered():
    from power.drivers.registry import BUILTIN_DRIVERS, DriverRegistry, _load_builtin

    path = "power.drivers.redfish:RedfishDriver"
    assert path in BUILTIN_DRIVERS
    assert DriverRegistry().register(_load_builtin(path)).name == "redfish"


# Network failures -------------------------------------------------------------------------


def test_unreachable_port_is_retryable_and_quick():
    driver = make_driver(f"http://127.0.0.1:{free_port()}", power_auth="basic")
    started = time.monotonic()
    with pytest.raises(PowerConnectionError) as exc:
        driver.power_query()
    assert exc.value.retryable
    assert time.monotonic() - started < 2
    assert PASSWORD not in str(exc.value)


def test_silent_bmc_times_out_as_retryable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        driver = make_driver(f"http://127.0.0.1:{port}", power_auth="basic", power_timeout=1)
        with pytest.raises(PowerTimeoutError) as exc:
            driver.power_query()
    assert exc.value.retryable


# Stub BMC for error bodies ------------------------------------------------------------------


class StubHandler(BaseHTTPRequestHandler):
    """Answers every request with the server's canned (status, body)."""

    def _answer(self) -> None:
        status, body = self.server.canned
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub_bmc():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.canned = (200, {})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def redfish_error(message: str, *extended: str) -> dict:
    info = [{"MessageId": "Base.1.8.X", "Message": text} for text in extended]
    return {
        "error": {
            "code": "Base.1.8.GeneralError",
            "message": message,
            "@Message.ExtendedInfo": info,
        }
    }


def test_5xx_is_retryable(stub_bmc):
    stub_bmc.canned = (503, redfish_error("Service busy"))
    driver = make_driver(f"http://127.0.0.1:{stub_bmc.server_port}", power_auth="basic")
    with pytest.raises(PowerConnectionError, match="HTTP 503: Service busy"):
        driver.power_query()


def test_4xx_is_fatal_with_extended_info_and_no_password(stub_bmc, caplog):
    caplog.set_level(logging.DEBUG)
    echo = f"Property value {PASSWORD} is invalid."
    stub_bmc.canned = (400, redfish_error("Bad request", echo))
    driver = make_driver(f"http://127.0.0.1:{stub_bmc.server_port}", power_auth="basic")
    with pytest.raises(PowerFatalError) as exc:
        driver.power_query()
    assert not exc.value.retryable
    assert "HTTP 400: Bad request Property value ******** is invalid." in str(exc.value)
    assert PASSWORD not in str(exc.value) + repr(exc.value) + caplog.text


# sushy-tools emulator ---------------------------------------------------------------------


def require_sushy_tools() -> None:
    """Skip without sushy-tools, except in CI where the Redfish protocol tests must run."""
    if importlib.util.find_spec("sushy_tools") is None:
        reason = "sushy-tools is not installed (pip install -r requirements-dev.txt)"
        skip_or_fail(reason)


class Emulator:
    """A sushy-tools emulator subprocess and helpers to observe and arrange its state."""

    def __init__(self, *options: str, tls: tuple[str, str] | None = None) -> None:
        require_sushy_tools()
        self.state_dir = tempfile.mkdtemp(prefix="redfish-emulator-")
        args = ["--state-dir", self.state_dir, "--user", USER, "--password", PASSWORD, *options]
        if tls:
            args += ["--cert", tls[0], "--key", tls[1]]
        self.scheme = "https" if tls else "http"
        self.stderr = open(os.path.join(self.state_dir, "stderr.log"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(EMULATOR), *args],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        try:
            self.port = self._read_port()
            self.url = f"{self.scheme}://127.0.0.1:{self.port}"
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _read_port(self) -> int:
        timer = threading.Timer(30, self.proc.kill)
        timer.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith("PORT "):
            self.stderr.seek(0)
            raise RuntimeError(f"Redfish emulator did not start: {self.stderr.read()[-2000:]}")
        return int(line.split()[1])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.call("GET", "/redfish/v1/")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10, context=UNVERIFIED) as response:
            raw = response.read()
        return json.loads(raw) if raw else {}

    def system(self, identity: str = SYSTEM1) -> dict:
        """The system resource as the emulator serves it (Basic auth)."""
        request = urllib.request.Request(f"{self.url}/redfish/v1/Systems/{identity}")
        token = f"{USER}:{PASSWORD}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
        with urllib.request.urlopen(request, timeout=10, context=UNVERIFIED) as response:
            return json.loads(response.read())

    def arrange(self, identity: str = SYSTEM1, **state) -> None:
        self.call("PUT", f"/_emulator/systems/{identity}", state)

    def requests(self) -> list[dict]:
        return self.call("GET", "/_emulator/requests")["requests"]

    def open_sessions(self) -> int:
        return self.call("GET", "/_emulator/requests")["sessions"]

    def resets(self) -> list[str]:
        return [r["body"]["ResetType"] for r in self.requests() if r["path"].endswith(".Reset")]

    def clear(self) -> None:
        self.call("DELETE", "/_emulator/requests")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.stderr.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def sushy():
    emulator = Emulator()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def bmc(sushy):
    """The emulator with system 1 off, booting from disk in UEFI mode, and an empty log."""
    sushy.arrange(power_state="Off", boot_device="Hdd", boot_mode="UEFI")
    sushy.clear()
    return sushy


def test_discovers_the_only_system(bmc):
    driver = make_driver(bmc.url)
    assert driver.power_query() == "off"
    assert driver._system_path == SYSTEM1_PATH
    assert [r["path"] for r in bmc.requests()].count("/redfish/v1/Systems") == 1


def test_node_id_selects_the_system(bmc):
    assert make_driver(bmc.url, node_id=SYSTEM1).power_query() == "off"
    assert make_driver(bmc.url, node_id=SYSTEM1_PATH).power_query() == "off"
    with pytest.raises(PowerFatalError, match="HTTP 404"):
        make_driver(bmc.url, node_id="missing").power_query()


def test_power_on_with_one_time_pxe(bmc):
    make_driver(bmc.url).power_on(netboot=True, efi=True)
    assert bmc.system()["PowerState"] == "On"
    boot = bmc.system()["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideMode"]) == ("Pxe", "UEFI")
    patch = next(r for r in bmc.requests() if r["method"] == "PATCH")
    assert patch["body"]["Boot"]["BootSourceOverrideEnabled"] == "Once"
    assert bmc.resets() == ["On"]


def test_power_on_leaves_a_running_host_alone(bmc):
    bmc.arrange(power_state="On")
    make_driver(bmc.url).power_on(netboot=True)
    assert bmc.resets() == []
    assert not [r for r in bmc.requests() if r["method"] == "PATCH"]
    assert bmc.system()["Boot"]["BootSourceOverrideTarget"] == "Hdd"


@pytest.mark.parametrize(("mode", "reset"), [("hard", "ForceOff"), ("soft", "GracefulShutdown")])
def test_power_off(bmc, mode, reset):
    bmc.arrange(power_state="On")
    driver = make_driver(bmc.url)
    driver.power_off(mode=mode)
    assert bmc.resets() == [reset]
    assert driver.power_query() == "off"
    driver.power_off(mode=mode)
    assert bmc.resets() == [reset]


def test_cycle_restarts_a_running_host_and_starts_a_stopped_one(bmc):
    driver = make_driver(bmc.url)
    driver.power_cycle()
    bmc.arrange(power_state="On")
    driver.power_cycle(netboot=True)
    assert bmc.resets() == ["On", "ForceRestart"]
    assert driver.power_query() == "on"
    assert bmc.system()["Boot"]["BootSourceOverrideTarget"] == "Pxe"


def test_set_boot_device(bmc):
    driver = make_driver(bmc.url)
    driver.set_boot_device("pxe", persistent=True)
    assert bmc.system()["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    driver.set_boot_device("disk")
    assert bmc.system()["Boot"]["BootSourceOverrideTarget"] == "Hdd"
    enabled = [
        r["body"]["Boot"]["BootSourceOverrideEnabled"]
        for r in bmc.requests()
        if r["method"] == "PATCH"
    ]
    assert enabled == ["Continuous", "Once"]


def test_session_auth_logs_in_uses_token_and_logs_out(bmc):
    make_driver(bmc.url, power_auth="session").power_on()
    calls = bmc.requests()
    assert calls[1]["path"] == "/redfish/v1/SessionService/Sessions"
    assert calls[1]["method"] == "POST"
    assert {r["auth"] for r in calls[2:]} == {"token"}
    assert calls[-1]["method"] == "DELETE"
    assert bmc.open_sessions() == 0


def test_session_is_closed_when_the_operation_fails(bmc):
    with pytest.raises(PowerFatalError):
        make_driver(bmc.url, node_id="missing").power_on()
    assert bmc.open_sessions() == 0


def test_basic_auth_sends_credentials_each_time(bmc):
    make_driver(bmc.url, power_auth="basic").power_on()
    calls = bmc.requests()
    assert {r["auth"] for r in calls} == {"basic"}
    assert not [r for r in calls if "Session" in r["path"]]
    assert bmc.system()["PowerState"] == "On"


@pytest.mark.parametrize("auth", ["session", "basic"])
def test_wrong_password_is_an_auth_error_without_retry(bmc, auth, caplog):
    caplog.set_level(logging.DEBUG)
    driver = RedfishDriver(
        {
            "power_address": bmc.url,
            "power_user": USER,
            "power_pass": "wrong-" + PASSWORD,
            "power_auth": auth,
        }
    )
    with pytest.raises(PowerAuthError) as exc:
        driver.power_query()
    assert not exc.value.retryable
    assert len([r for r in bmc.requests() if r["path"] != "/redfish/v1"]) == 1
    assert PASSWORD not in str(exc.value) + repr(exc.value) + caplog.text


def test_password_never_logged(bmc, caplog):
    caplog.set_level(logging.DEBUG)
    driver = make_driver(bmc.url)
    driver.power_on(netboot=True, efi=True)
    driver.power_cycle()
    driver.power_off(mode="soft")
    driver.power_query()
    assert "ResetType" in caplog.text
    assert PASSWORD not in caplog.text


def test_falls_back_to_basic_without_session_service():
    emulator = Emulator("--no-sessions")
    try:
        driver = make_driver(emulator.url, power_auth="session")
        driver.power_on()
        assert driver.power_query() == "on"
        calls = [r for r in emulator.requests() if r["path"] != "/redfish/v1"]
        assert {r["auth"] for r in calls} == {"basic"}
    finally:
        emulator.stop()


def test_several_systems_need_node_id():
    emulator = Emulator("--systems", "2")
    try:
        with pytest.raises(PowerSettingsError) as exc:
            make_driver(emulator.url).power_query()
        assert "node_id" in exc.value.errors
        assert make_driver(emulator.url, node_id="00000000-0000-0000-0000-000000000002")
    finally:
        emulator.stop()


def self_signed(directory: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cryptography is a runtime dependency)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bmc.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_path).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_verification_switch(tmp_path):
    emulator = Emulator(tls=self_signed(str(tmp_path)))
    try:
        address = f"127.0.0.1:{emulator.port}"
        assert make_driver(address).power_query() == "off"
        with pytest.raises(PowerFatalError, match="certificate") as exc:
            make_driver(address, power_verify_ssl=True).power_query()
        assert not exc.value.retryable
    finally:
        emulator.stop()
