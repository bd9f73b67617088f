"""The simulator's HTTP client: one machine's (or one rack's) calls, retried as runner.sh does."""
import functools
import http.client
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# As nodes/metadata/runner.sh: 5 attempts, pausing 1, 2, 3, 4 s; busybox wget's default
# network timeout (900 s: the runner passes no -T).
RETRIES = 5
HTTP_TIMEOUT = 900.0


class MachineOff(Exception):
    """The machine's BMC powered it off: its runner stops where it is."""


class _SourceHandler(urllib.request.HTTPHandler):
    """Plain HTTP from one local address (a simulated machine's leased 127.x address)."""

    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPConnection,
                                              source_address=(self.source, 0)), req)


class Region:
    """A tiny HTTP client for the metadata API with one machine's credentials.

    It counts its requests and keeps the HTTP errors it met (4xx/5xx answers and network
    errors, retried ones included). `source` is the local address its connections come from.
    """

    def __init__(self, url: str, system_id: str = "", token: str = "", *,
                 powered=None, auth: str = "", api: str = "api/v1/metadata/",
                 timeout: float = HTTP_TIMEOUT, source: str = ""):
        self.url = url
        self.api = url.rstrip("/") + "/" + api
        self.timeout = timeout
        self.auth = auth or (f"Machine {system_id}:{token}" if token else "")
        self.powered = powered  # callable: False once the machine is off
        self.source = source
        self.opener = urllib.request.build_opener(*([_SourceHandler(source)] if source else []))
        self.requests = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def _note(self, error: str = "") -> None:
        with self._lock:
            self.requests += 1
            if error:
                self.errors.append(error)

    def call(self, method: str, path: str, data: bytes | None = None,
             accept: str = "", content_type: str = "") -> tuple[int, bytes]:
        """(status, body); network errors and 5xx are retried, 4xx returned."""
        headers = {"Authorization": self.auth} if self.auth else {}
        if accept:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        where = f"{method} {path.split('?')[0]}"
        for attempt in range(RETRIES):
            if self.powered is not None and not self.powered():
                raise MachineOff(where)
            request = urllib.request.Request(self.api + path, data=data, method=method,
                                             headers=headers)
            try:
                with self.opener.open(request, timeout=self.timeout) as response:
                    body = response.read()
                self._note()
                return response.status, body
            except urllib.error.HTTPError as exc:
                self._note(f"{where}: {exc.code}")
                if exc.code < 500 or attempt == RETRIES - 1:
                    return exc.code, exc.read()
            except OSError as exc:
                self._note(f"{where}: {type(exc).__name__}: {exc}")
                if attempt == RETRIES - 1:
                    raise
            time.sleep(attempt + 1)
        raise AssertionError("unreachable")

    def post(self, path: str, fields: dict | None = None, body: bytes | None = None) -> int:
        data = body if body is not None else urllib.parse.urlencode(fields or {}).encode()
        return self.call("POST", path, data)[0]
