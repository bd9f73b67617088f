"""Everything the broker carries while a test runs: Redis MONITOR, or the filesystem queue files."""
import base64
import binascii
import re
import threading
import time
from pathlib import Path

import redis

from rack_worker.env import broker_transport_options, broker_url

# A kombu message's body, base64 in the message JSON (quotes escaped once in MONITOR output).
BODY = re.compile(r'\\?"body\\?": \\?"([A-Za-z0-9+/=]+)\\?"')


def decoded(raw: str) -> str:
    """`raw` followed by every message body in it, decoded: a secret cannot hide in base64."""
    bodies = []
    for match in BODY.finditer(raw):
        try:
            bodies.append(base64.b64decode(match.group(1)).decode(errors="replace"))
        except (binascii.Error, ValueError):
            continue
    return "\n".join([raw, *bodies])


class BrokerCapture:
    """Context manager: `text` holds what went through the broker (decoded) while it was open."""

    def __init__(self):
        self.url, self.chunks = broker_url(), []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()

    @property
    def text(self) -> str:
        return "\n".join(decoded(chunk) for chunk in self.chunks)

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10), "the broker capture did not start"
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(15)

    def _run(self):
        if self.url.startswith("redis"):
            self._monitor_redis()
        else:
            self._watch_folder(Path(broker_transport_options(self.url)["data_folder_in"]))

    def _monitor_redis(self):
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        with client.monitor() as monitor:
            self.ready.set()
            while not self.stopping.is_set():
                try:
                    self.chunks.append(monitor.next_command()["command"])
                except redis.TimeoutError:
                    continue

    def _watch_folder(self, folder: Path):
        """Read each message file as it appears (the worker deletes it once it has taken it)."""
        seen = set()
        self.ready.set()
        while not self.stopping.is_set():
            for path in folder.glob("*"):
                if path.name not in seen:
                    try:
                        self.chunks.append(path.read_text(errors="replace"))
                        seen.add(path.name)
                    except OSError:
                        continue
            time.sleep(0.01)
