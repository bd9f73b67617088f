"""Gunicorn's access log: rack polling at DEBUG, everything else at INFO (WEB_LOG_LEVEL)."""
import logging
import urllib.error
import urllib.request

import pytest

from maasproject.accesslog import access_level, status_code, web_log_level
from tests.processes import free_tcp_port, start, stop, wait_until
from tests.zones.rack_helpers import register

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.mark.parametrize(("method", "path", "status", "level"), [
    ("GET", "/api/v1/rack/config/", 200, logging.DEBUG),
    ("GET", "/api/v1/rack/config/", 304, logging.DEBUG),
    ("POST", "/api/v1/rack/heartbeat/", 200, logging.DEBUG),
    ("GET", "/api/v1/rack/images/", 200, logging.DEBUG),
    ("POST", "/api/v1/rack/images/progress/", 200, logging.DEBUG),
    ("POST", "/api/v1/metadata/heartbeat/", 200, logging.DEBUG),
    ("GET", "/api/v1/rack/config/", 401, logging.INFO),  # a failure is never routine
    ("POST", "/api/v1/rack/heartbeat/", 500, logging.INFO),
    ("POST", "/api/v1/rack/config/", 405, logging.INFO),
    ("GET", "/api/v1/rack/heartbeat/", 405, logging.INFO),
    ("POST", "/api/v1/rack/register/", 200, logging.INFO),
    ("POST", "/api/v1/rack/events/", 200, logging.INFO),
    ("GET", "/api/v1/rack/images/x/root.img", 200, logging.INFO),
    ("GET", "/api/v1/machines/", 200, logging.INFO),
    ("GET", "/healthz", 200, logging.DEBUG),  # HAProxy's checks, every second
    ("GET", "/healthz", 503, logging.INFO),  # a region out of service is news
    ("GET", "/api/v1/rack/config/extra/", 200, logging.INFO),
])
def test_access_level(method, path, status, level):
    assert access_level(method, path, status) == level


class Resp:
    def __init__(self, status):
        self.status = status


def test_status_code_reads_gunicorns_forms():
    assert status_code(Resp("304 Not Modified")) == 304
    assert status_code(Resp(200)) == 200
    assert status_code(Resp(None)) == 0


@pytest.mark.parametrize(("value", "level"), [
    (None, logging.INFO), ("debug", logging.DEBUG), ("WARNING", logging.WARNING),
    ("nonsense", logging.INFO)])
def test_web_log_level(monkeypatch, value, level):
    if value is None:
        monkeypatch.delenv("WEB_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("WEB_LOG_LEVEL", value)
    assert web_log_level() == level


def _request(url: str, method: str = "GET", token: str | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Rack {token}"
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with NO_PROXY.open(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0  # not listening yet


def _serve_and_log(tmp_path, level: str, rack_token: str) -> list[str]:
    """Start gunicorn as make run does, send polling and other requests, return the log lines."""
    port, access_log = free_tcp_port(), tmp_path / f"access-{level}.log"
    web = start(["-m", "gunicorn", "maasproject.wsgi", "--bind", f"127.0.0.1:{port}",
                 "--workers", "1", "--logger-class", "maasproject.accesslog.AccessLogger",
                 "--access-logfile", str(access_log)], tmp_path / f"web-{level}.log",
                WEB_LOG_LEVEL=level)
    base = f"http://127.0.0.1:{port}/api/v1/"
    try:
        wait_until(lambda: web.poll() is None and _request(base) == 401, 60,
                   lambda: (tmp_path / f"web-{level}.log").read_text())
        assert _request(base + "rack/config/", token=rack_token) == 200
        assert _request(base + "rack/heartbeat/", "POST", token=rack_token) == 200
        assert _request(base + "rack/config/") == 401
        assert _request(base + "machines/") == 401
    finally:
        stop(web)
    return access_log.read_text().splitlines()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_gunicorn_logs_rack_polling_only_at_debug(tmp_path):
    rack, token = register("polling")
    credentials = f"{rack.system_id}:{token}"

    lines = _serve_and_log(tmp_path, "INFO", credentials)
    polled = [line for line in lines if "/api/v1/rack/" in line]
    assert len(polled) == 1 and '"GET /api/v1/rack/config/ HTTP/1.1" 401' in polled[0], lines
    assert any("/api/v1/machines/" in line for line in lines), lines

    lines = _serve_and_log(tmp_path, "DEBUG", credentials)
    text = "\n".join(lines)
    assert '"GET /api/v1/rack/config/ HTTP/1.1" 200' in text, text
    assert '"POST /api/v1/rack/heartbeat/ HTTP/1.1" 200' in text, text
    assert "/api/v1/machines/" in text, text
