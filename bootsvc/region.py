"""Rack-side HTTP client of the region's rack API (stdlib only; no Django, no database).

Every call but `register` sends `Authorization: Rack SYSTEM_ID:TOKEN`. The client knows every
region URL: a connection error or a 502/503/504 moves on to the next URL at once, and the one
that answers is used from then on; a round over all URLs that failed is retried with backoff,
as are other 5xx answers; 4xx are not. The token never appears in logs or errors.
"""
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)
API = "api/v1/rack/"
# Answers of a proxy or a region that is down or restarting: another region may answer.
UNAVAILABLE = frozenset({502, 503, 504})


def region_urls(value: str | Iterable[str]) -> list[str]:
    """The URLs in a comma-separated string or a list, each ending in "/", without repeats."""
    items = value.split(",") if isinstance(value, str) else value
    urls: list[str] = []
    for item in items:
        url = item.strip().rstrip("/") + "/" if item and item.strip() else ""
        if url and url not in urls:
            urls.append(url)
    return urls


def env_region_urls() -> str:
    """What rackd passes its children: RACK_REGION_URLS (every URL it knows, comma-separated),
    else RACK_REGION_URL (one: an older rackd, or a manual start)."""
    return os.environ.get("RACK_REGION_URLS") or os.environ.get("RACK_REGION_URL", "")


class RegionError(Exception):
    """The region could not be reached or answered with an error."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RegionAuthError(RegionError):
    """The region refused the rack's credentials (401) or the shared secret (403)."""


class RegionClient:
    """A rack's client of the region: register, heartbeat, config, boot decisions, reports."""

    def __init__(self, url: str | Iterable[str], system_id: str = "", token: str = "", *,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.5):
        self.configured = region_urls(url)
        if not self.configured:
            raise ValueError("RegionClient needs at least one region URL")
        self.urls = list(self.configured)
        self.system_id = system_id
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        # bootsvc calls from several threads: the URL list and the current one change together.
        self._lock = threading.Lock()
        self._current = self.urls[0]

    @property
    def url(self) -> str:
        """The region URL in use: the last one that answered."""
        return self._current

    def __repr__(self) -> str:
        return f"RegionClient({self.urls!r}, system_id={self.system_id!r})"

    def update_regions(self, urls: Iterable[str]) -> list[str]:
        """Know the configured URLs and those the region answered (the others are forgotten)."""
        with self._lock:
            self.urls = region_urls([*self.configured, *region_urls(urls)])
            if self._current not in self.urls:
                self._current = self.urls[0]
            return list(self.urls)

    def register(self, secret: str, name: str, version: str = "",
                 interfaces: list[dict] | None = None) -> dict:
        """Register with the shared secret; keeps and returns {system_id, name, token}."""
        body = {"secret": secret, "name": name, "version": version,
                "interfaces": interfaces or []}
        _, _, answer = self._request("POST", "register/", body, auth=False)
        self.system_id, self.token = answer["system_id"], answer["token"]
        return answer

    def heartbeat(self, interfaces: list[dict], services: dict[str, str],
                  reasons: dict[str, str] | None = None) -> dict:
        """Report interfaces, service states and why any is not running; answers {"status"}."""
        body = {"interfaces": interfaces, "services": services}
        if reasons:
            body["reasons"] = reasons
        return self._request("POST", "heartbeat/", body)[2]

    def get_config(self, etag: str | None = None) -> tuple[dict, str] | None:
        """(config, etag), or None when the config still matches `etag` (304)."""
        headers = {"If-None-Match": etag} if etag else {}
        status, response_headers, answer = self._request("GET", "config/", headers=headers)
        if status == 304:
            return None
        return answer, response_headers.get("ETag", "")

    def get_boot(self, mac: str) -> dict:
        """The region's boot decision for a MAC."""
        return self._request("GET", f"boot/{quote(mac, safe='')}/")[2]

    def post_leases(self, leases: list[dict]) -> dict:
        """Report a batch of leases ({mac, ip, hostname, expires, state})."""
        return self._request("POST", "leases/", {"leases": leases})[2]

    def post_events(self, events: list[dict]) -> dict:
        """Report a batch of boot events ({mac, type, description, time})."""
        return self._request("POST", "events/", {"events": events})[2]

    def _request(self, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None, auth: bool = True):
        return self._with_failover(
            lambda base: self._once(method, base + API + path, body, headers or {}, auth))

    def _with_failover(self, call: Callable[[str], Any]):
        """`call(base_url)` on each region in turn; a failed round is retried with backoff."""
        attempt = 0
        while True:
            try:
                return self._round(call)
            except RegionError as exc:
                retryable = exc.status is None or exc.status >= 500
                if not retryable or attempt >= self.retries:
                    raise
                delay = self.backoff * 2 ** attempt
                logger.warning("%s; retrying in %.1fs", exc, delay)
                time.sleep(delay)
                attempt += 1

    def _round(self, call: Callable[[str], Any]):
        """From the current region on: the first answer wins and becomes the current region."""
        with self._lock:
            start = self._current
            order = [start, *[url for url in self.urls if url != start]]
        error: RegionError | None = None
        for base in order:
            try:
                result = call(base)
            except RegionError as exc:
                if exc.status is not None and exc.status not in UNAVAILABLE:
                    raise
                error = error or exc
                continue
            if base != start:
                self._switch(start, base, error)
            return result
        raise error

    def _switch(self, old: str, new: str, error: RegionError | None) -> None:
        with self._lock:
            if self._current != old:
                return  # another thread switched meanwhile, and logged it
            self._current = new
        logger.warning("Region %s unavailable (%s); using %s", old, error, new)

    def _once(self, method: str, url: str, body: Any, headers: dict[str, str], auth: bool):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in headers.items():
            request.add_header(name, value)
        if auth:
            request.add_header("Authorization", f"Rack {self.system_id}:{self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.headers, _json(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return 304, exc.headers, None
            raise _http_error(method, url, exc) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegionError(f"{method} {url}: {reason}") from None

    def get_image_manifest(self) -> dict:
        """The boot resources to cache: {"files": [{path, size, sha256}], "etag"}."""
        return self._request("GET", "images/")[2]

    def post_image_progress(self, progress: dict) -> dict:
        """Report image-sync progress: bytes/files done and total, state, error."""
        return self._request("POST", "images/progress/", progress)[2]

    def download_image(self, path: str, dest_file, offset: int = 0, on_chunk=None) -> int:
        """Stream a boot resource into `dest_file` from `offset` (Range); the bytes received."""
        rel = API + "images/" + quote(path)
        return self._with_failover(
            lambda base: self._download(base + rel, dest_file, offset, on_chunk))

    def _download(self, url: str, dest_file, offset: int, on_chunk) -> int:
        # A region answering the whole file (200, not 206) makes dest_file start over; so does
        # another attempt after a broken one (from `offset` again).
        request = urllib.request.Request(url, method="GET")
        request.add_header("Authorization", f"Rack {self.system_id}:{self.token}")
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                dest_file.seek(offset if response.status == 206 else 0)
                dest_file.truncate()
                return _copy(response, dest_file, on_chunk)
        except urllib.error.HTTPError as exc:
            raise _http_error("GET", url, exc) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise RegionError(f"GET {url}: {getattr(exc, 'reason', exc)}") from None


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def _http_error(method: str, url: str, exc: urllib.error.HTTPError) -> RegionError:
    try:
        detail = json.loads(exc.read() or b"null")
    except (ValueError, OSError):
        detail = None
    message = f"{method} {url}: HTTP {exc.code} {detail if detail is not None else exc.reason}"
    cls = RegionAuthError if exc.code in (401, 403) else RegionError
    return cls(message, status=exc.code)


def _copy(response, dest_file, on_chunk) -> int:
    received = 0
    while chunk := response.read(1 << 16):
        dest_file.write(chunk)
        received += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return received
