"""Run sushy-tools' Redfish emulator (fake systems backend) for the redfish driver tests.

sushy-tools 2.2.0 has no SessionService, so this launcher wraps its Flask app with one
(POST/GET/DELETE on /redfish/v1/SessionService/Sessions, checked against the same htpasswd
file) and advertises it in the service root unless --no-sessions. It also:

- makes the fake driver's power transitions immediate (sushy waits a random 1-11 s);
- records every request (method, path, JSON body without passwords) for the tests;
- serves GET/DELETE /_emulator/requests and PUT /_emulator/systems/<uuid> (power_state,
  boot_device, boot_mode) without authentication, for the tests to observe and arrange state.

Usage: python tests/power/redfish_emulator.py --state-dir DIR --user U --password P
       [--systems N] [--no-sessions] [--cert FILE --key FILE]
Prints "PORT <n>" on stdout once listening on 127.0.0.1 (random port).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import ssl
import sys
import threading
import uuid as uuidlib

SESSIONS = "/redfish/v1/SessionService/Sessions"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser("redfish-emulator")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--systems", type=int, default=1)
    parser.add_argument("--no-sessions", action="store_true")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    return parser.parse_args(argv)


def write_config(args: argparse.Namespace) -> str:
    """Write the htpasswd and sushy config files; return the config path."""
    import bcrypt

    auth_file = os.path.join(args.state_dir, "htpasswd")
    digest = bcrypt.hashpw(args.password.encode(), bcrypt.gensalt(rounds=4)).decode()
    with open(auth_file, "w") as handle:
        handle.write(f"{args.user}:{digest}\n")
    systems = [
        {
            "uuid": str(uuidlib.UUID(int=index + 1)),
            "name": f"node{index + 1}",
            "power_state": "Off",
            "external_notifier": False,
            "nics": [{"mac": f"52:54:00:00:00:{index + 1:02x}", "ip": f"10.0.0.{index + 1}"}],
        }
        for index in range(args.systems)
    ]
    config = os.path.join(args.state_dir, "emulator.conf")
    with open(config, "w") as handle:
        handle.write("SUSHY_EMULATOR_FAKE_DRIVER = True\n")
        handle.write(f"SUSHY_EMULATOR_STATE_DIR = {args.state_dir!r}\n")
        handle.write(f"SUSHY_EMULATOR_AUTH_FILE = {auth_file!r}\n")
        handle.write(f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}\n")
    return config


def instant_power() -> None:
    """Make the fake driver apply power changes on the next read instead of 1-11 s later."""
    from sushy_tools.emulator.resources.systems import fakedriver

    class _NoDelay:
        @staticmethod
        def randint(low: int, high: int) -> int:
            return 0

    fakedriver.random = _NoDelay


def _read_body(env: dict) -> bytes:
    length = int(env.get("CONTENT_LENGTH") or 0)
    body = env["wsgi.input"].read(length) if length else b""
    env["wsgi.input"] = io.BytesIO(body)
    return body


def _json_response(start_response, status: str, data, headers=()) -> list[bytes]:
    body = json.dumps(data).encode() if data is not None else b""
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


class SessionLayer:
    """WSGI layer adding a SessionService, a request log and test control endpoints."""

    def __init__(self, app, auth_file: str, sessions: bool) -> None:
        self.app = app
        self.auth_middleware = app.wsgi_app
        self.flask_app = app.wsgi_app.app
        self.auth_file = auth_file
        self.sessions_enabled = sessions
        self.sessions: dict[str, str] = {}
        self.log: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, env, start_response):
        path = "/" + env.get("PATH_INFO", "").strip("/")
        method = env["REQUEST_METHOD"]
        body = _read_body(env)
        if path.startswith("/_emulator"):
            return self.control(method, path, body, start_response)
        self.record(method, path, body, env)
        if self.sessions_enabled and path == SESSIONS and method == "POST":
            return self.login(body, start_response)
        if self.sessions_enabled and path in ("/redfish", "/redfish/v1") and method == "GET":
            return self.root(env, start_response)
        token = env.get("HTTP_X_AUTH_TOKEN")
        if token is not None:
            return self.with_token(token, method, path, env, start_response)
        return self.auth_middleware(env, start_response)

    def record(self, method: str, path: str, body: bytes, env: dict) -> None:
        """Keep method, path, body (password removed) and the kind of credentials."""
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        if isinstance(data, dict) and "Password" in data:
            data = {**data, "Password": "<removed>"}
        auth = "token" if "HTTP_X_AUTH_TOKEN" in env else None
        auth = auth or ("basic" if "HTTP_AUTHORIZATION" in env else "none")
        with self.lock:
            self.log.append({"method": method, "path": path, "body": data, "auth": auth})

    def login(self, body: bytes, start_response):
        """Create a session when the user and password match the htpasswd file."""
        from sushy_tools import error
        from sushy_tools.emulator import auth_basic

        try:
            data = json.loads(body or b"{}")
            auth_basic.authenticate(
                self.auth_file, str(data.get("UserName")), str(data.get("Password")).encode()
            )
        except (ValueError, error.FishyError):
            err = {"error": {"code": "Base.1.0.GeneralError", "message": "Invalid credentials"}}
            return _json_response(start_response, "401 Unauthorized", err)
        token, session_id = secrets.token_hex(16), secrets.token_hex(4)
        with self.lock:
            self.sessions[token] = session_id
        location = f"{SESSIONS}/{session_id}"
        data = {"@odata.id": location, "Id": session_id, "UserName": data["UserName"]}
        headers = [("X-Auth-Token", token), ("Location", location)]
        return _json_response(start_response, "201 Created", data, headers)

    def root(self, env, start_response):
        """The service root with SessionService and Links.Sessions added."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status

        raw = b"".join(self.flask_app(env, capture))
        data = json.loads(raw)
        data["SessionService"] = {"@odata.id": "/redfish/v1/SessionService"}
        data["Links"] = {"Sessions": {"@odata.id": SESSIONS}}
        return _json_response(start_response, captured["status"], data)

    def with_token(self, token: str, method: str, path: str, env, start_response):
        """Serve a request authenticated by X-Auth-Token (sessions live here, not in sushy)."""
        with self.lock:
            session_id = self.sessions.get(token)
            if session_id is None:
                err = {"error": {"code": "Base.1.0.GeneralError", "message": "Bad token"}}
                return _json_response(start_response, "401 Unauthorized", err)
            if path == SESSIONS and method == "GET":
                members = [{"@odata.id": f"{SESSIONS}/{sid}"} for sid in self.sessions.values()]
                return _json_response(start_response, "200 OK", {"Members": members})
            if path.startswith(SESSIONS + "/") and method == "DELETE":
                return self.logout(path, start_response)
        return self.flask_app(env, start_response)

    def logout(self, path: str, start_response):
        """Delete a session (called with the lock held)."""
        session_id = path.rsplit("/", 1)[-1]
        for token, sid in list(self.sessions.items()):
            if sid == session_id:
                del self.sessions[token]
                return _json_response(start_response, "204 No Content", None)
        return _json_response(start_response, "404 Not Found", {"error": {"message": "none"}})

    def control(self, method: str, path: str, body: bytes, start_response):
        """Test-only endpoints: request log, open sessions, system state."""
        if path == "/_emulator/requests":
            with self.lock:
                data = {"requests": list(self.log), "sessions": len(self.sessions)}
                if method == "DELETE":
                    self.log.clear()
            return _json_response(start_response, "200 OK", data)
        if path.startswith("/_emulator/systems/") and method == "PUT":
            identity = path.rsplit("/", 1)[-1]
            changes = json.loads(body or b"{}")
            self.app.systems._update(identity, pending_power=None, **changes)
            return _json_response(start_response, "200 OK", self.app.systems._get(identity))
        return _json_response(start_response, "404 Not Found", {"error": {"message": path}})


def serve(args: argparse.Namespace) -> None:
    """Configure sushy-tools, wrap it and serve on 127.0.0.1 with a random port."""
    from sushy_tools.emulator.main import app
    from werkzeug.serving import make_server

    config = write_config(args)
    app.configure(config_file=config)
    instant_power()
    auth_file = app.config["SUSHY_EMULATOR_AUTH_FILE"]
    layer = SessionLayer(app, auth_file, sessions=not args.no_sessions)
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    server = make_server("127.0.0.1", 0, layer, threaded=True, ssl_context=context)
    print(f"PORT {server.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(parse_args(sys.argv[1:]))
