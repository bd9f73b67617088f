"""A minimal client of the region's REST API (Bearer API key), for the demo's set-up."""
import json
import time
import urllib.error
import urllib.request
from pathlib import Path


class ApiError(Exception):
    """The region answered with an error status."""


def api_key_from(credentials: Path) -> str:
    """The key `make run` saved in var/admin-credentials (line `API key: ...`)."""
    for line in credentials.read_text().splitlines():
        if line.startswith("API key:"):
            return line.split(":", 1)[1].strip()
    raise ApiError(f"no `API key:` line in {credentials}")


class Api:
    def __init__(self, base_url: str, key: str):
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.key = key

    def call(self, method: str, path: str, body: dict | None = None):
        return json.loads(self.raw(method, path, body) or b"null")

    def raw(self, method: str, path: str, body: dict | None = None) -> bytes:
        """The answer's body as bytes (plain-text endpoints: script outputs)."""
        request = urllib.request.Request(
            self.base + path.lstrip("/"), method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body: dict | None = None):
        return self.call("POST", path, body or {})

    def patch(self, path: str, body: dict):
        return self.call("PATCH", path, body)

    def items(self, path: str) -> list[dict]:
        """A list endpoint's items (paged or not)."""
        answer = self.get(path)
        return answer["results"] if isinstance(answer, dict) else answer

    def wait_for(self, path: str, check, timeout: float = 60, describe=lambda: ""):
        """Poll GET path until check(items) is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = check(self.items(path))
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"GET {path}: still not there after {timeout}s {describe()}")
            time.sleep(1)
