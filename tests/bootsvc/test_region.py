"""RegionClient with several region URLs: failover over real HTTP on loopback, sticky, logged."""
import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bootsvc.region import (
    RegionAuthError,
    RegionClient,
    RegionError,
    env_region_urls,
    region_urls,
)
from tests.processes import free_tcp_port

TOKEN = "s3cret-rack-token"
IMAGE = bytes(range(256)) * 64


class Handler(BaseHTTPRequestHandler):
    """A region's rack API reduced to what the client needs: JSON answers and image bytes."""

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer()

    def answer(self):
        region = self.server.region
        region.hits.append((self.command, self.path))
        if region.status != 200:
            return self.send_json(region.status, {"detail": "nope"})
        if self.path.startswith("/api/v1/rack/images/") and self.path != "/api/v1/rack/images/":
            return self.send_image()
        self.send_json(200, {"status": "running", "regions": region.regions})

    def send_json(self, status: int, body: dict):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def send_image(self):
        offset = int(self.headers.get("Range", "bytes=0-")[6:].rstrip("-") or 0)
        self.send_response(206 if offset else 200)
        self.send_header("Content-Length", str(len(IMAGE) - offset))
        self.end_headers()
        self.wfile.write(IMAGE[offset:])

    def log_message(self, *args):
        pass


class FakeRegion:
    """One region on 127.0.0.1, answering `status` (200: its normal answers) until stopped."""

    def __init__(self, port: int = 0, status: int = 200, regions: list[str] | None = None):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.region = self
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.status, self.regions, self.hits = status, regions or [], []
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def regions():
    started: list[FakeRegion] = []

    def make(**kwargs) -> FakeRegion:
        started.append(FakeRegion(**kwargs))
        return started[-1]

    yield make
    for region in started:
        region.stop()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_tcp_port()}/"


def client(*urls: str, retries: int = 0) -> RegionClient:
    return RegionClient(list(urls), "rack1", TOKEN, timeout=2, retries=retries, backoff=0.01)


def test_urls_from_a_comma_separated_string_or_a_list():
    assert region_urls(" http://a:5240 ,http://b/,,http://a:5240/") == [
        "http://a:5240/", "http://b/"]
    assert RegionClient("http://a/,http://b").urls == ["http://a/", "http://b/"]
    assert RegionClient("http://a").url == "http://a/"  # one URL, as before


def test_rack_children_take_every_region_url_else_the_one(monkeypatch):
    monkeypatch.delenv("RACK_REGION_URLS", raising=False)
    monkeypatch.setenv("RACK_REGION_URL", "http://a/")
    assert env_region_urls() == "http://a/"  # an older rackd, or a manual start
    monkeypatch.setenv("RACK_REGION_URLS", "http://a/,http://b/")
    assert env_region_urls() == "http://a/,http://b/"


def test_a_dead_region_is_failed_over_within_one_call_and_the_live_one_kept(regions, caplog):
    live, dead = regions(), dead_url()
    region = client(dead, live.url)
    with caplog.at_level(logging.DEBUG, logger="bootsvc.region"):
        assert region.heartbeat([], {})["status"] == "running"
        assert region.url == live.url
        region.heartbeat([], {})  # sticky: straight to the live region
    switches = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(switches) == 1 and live.url in switches[0].getMessage()
    assert [path for _, path in live.hits] == ["/api/v1/rack/heartbeat/"] * 2
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_the_first_region_is_used_again_when_it_is_back_and_the_second_dies(regions):
    first, second = regions(), regions()
    region = client(first.url, second.url)
    port = first.port
    first.stop()
    region.get_boot("52:54:00:00:00:01")
    assert region.url == second.url
    first = regions(port=port)  # back on its address
    second.stop()
    region.get_boot("52:54:00:00:00:01")
    assert region.url == first.url
    assert first.hits == [("GET", "/api/v1/rack/boot/52%3A54%3A00%3A00%3A00%3A01/")]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_an_unavailable_region_is_failed_over(regions, status):
    down, up = regions(status=status), regions()
    assert client(down.url, up.url).post_events([])["status"] == "running"
    assert len(down.hits) == 1 and len(up.hits) == 1


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_failed_over(regions, status):
    refusing, other = regions(status=status), regions()
    region = client(refusing.url, other.url, retries=2)
    with pytest.raises(RegionError) as error:
        region.post_leases([])
    assert error.value.status == status and isinstance(error.value, RegionAuthError) == (
        status == 401)
    assert len(refusing.hits) == 1 and other.hits == [] and region.url == refusing.url


def test_a_round_over_every_region_is_one_attempt(regions, caplog):
    first, second = regions(status=503), regions(status=503)
    region = client(first.url, second.url, dead_url(), retries=2)
    with caplog.at_level(logging.DEBUG, logger="bootsvc.region"), \
            pytest.raises(RegionError) as error:
        region.heartbeat([], {})
    assert error.value.status == 503 and region.url == first.url
    assert len(first.hits) == 3 and len(second.hits) == 3  # three rounds: 1 + 2 retries
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in str(error.value)


def test_downloads_fail_over_and_resume_from_the_offset(regions):
    live = regions()
    region = client(dead_url(), live.url)
    dest = io.BytesIO(IMAGE[:1000] + b"garbage")
    assert region.download_image("ephemeral/amd64/linux", dest, 1000) == len(IMAGE) - 1000
    assert dest.getvalue() == IMAGE and region.url == live.url
    assert live.hits == [("GET", "/api/v1/rack/images/ephemeral/amd64/linux")]


def test_regions_the_region_answers_are_merged_and_failed_over_to(regions):
    learned = regions()
    answering = regions(regions=[learned.url, "http://other:5240"])
    region = client(answering.url)
    answer = region.heartbeat([], {})
    assert region.update_regions(answer["regions"]) == [
        answering.url, learned.url, "http://other:5240/"]
    assert region.update_regions([]) == [answering.url]  # the configured one always stays
    region.update_regions([learned.url])
    answering.stop()
    region.get_config()
    assert region.url == learned.url and learned.hits[-1] == ("GET", "/api/v1/rack/config/")
