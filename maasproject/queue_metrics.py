"""Task queue depths read from the broker at scrape time: Redis (LLEN) or the filesystem broker.

A broker that is down or slow answers maas_broker_up 0 within QUEUE_TIMEOUT seconds and no
depths; /metrics itself still answers. The age of the oldest message is known for the
filesystem broker only (its file's mtime): Celery's Redis messages carry no time they were sent.
"""
import os
import time
from collections.abc import Callable, Iterable

import redis
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from maasproject.backends import BROKER_ERRORS, broker_redis
from rack_worker.env import is_filesystem_broker, is_redis_url

QUEUE_TIMEOUT = 1.0  # seconds: a scrape must not hang on a broker that does not answer
# kombu's Redis transport keeps a queue's priorities in separate lists: name, then these.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def redis_depths(url: str, queues: list[str]) -> dict[str, int]:
    """{queue: messages waiting} from LLEN of each queue's priority lists, one round trip."""
    client = broker_redis(url, QUEUE_TIMEOUT)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            for suffix in PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
    finally:
        client.close()
    step = len(PRIORITY_SUFFIXES)
    return {queue: sum(lengths[i * step:(i + 1) * step]) for i, queue in enumerate(queues)}


def filesystem_depths(folder: str, queues: list[str], now: float) -> tuple[dict, dict]:
    """({queue: messages}, {queue: age of the oldest in seconds}) from the broker's in folder."""
    depths, oldest = dict.fromkeys(queues, 0), {}
    with os.scandir(folder) as entries:
        for entry in entries:
            queue = message_queue(entry.name)
            if queue not in depths:
                continue
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:  # taken by a worker meanwhile
                continue
            depths[queue] += 1
            oldest[queue] = min(oldest.get(queue, mtime), mtime)
    return depths, {queue: max(0.0, now - mtime) for queue, mtime in oldest.items()}


def message_queue(name: str) -> str | None:
    """The queue of a kombu filesystem message file `<ms>_<uuid>.<queue>.msg`, else None."""
    if not name.endswith(".msg") or "_" not in name:
        return None
    _, _, rest = name.partition("_")
    parts = rest[: -len(".msg")].split(".", 1)  # the uuid has no dot; a queue may
    return parts[1] if len(parts) == 2 else None


class QueueCollector:
    """maas_broker_up, maas_queue_messages{queue}, maas_queue_oldest_message_age_seconds{queue}."""

    def __init__(self, queue_names: Callable[[], Iterable[str]], clock=time.time):
        self.queue_names = queue_names
        self.clock = clock

    def collect(self):
        up = GaugeMetricFamily("maas_broker_up", "1 if the task broker answered this scrape.")
        depth = GaugeMetricFamily("maas_queue_messages", "Task messages waiting, by queue.",
                                  labels=["queue"])
        age = GaugeMetricFamily("maas_queue_oldest_message_age_seconds",
                                "Age of the oldest waiting message (filesystem broker only).",
                                labels=["queue"])
        try:
            depths, ages = self.read(["region", *sorted(set(self.queue_names()))])
        except (*BROKER_ERRORS, redis.exceptions.RedisError, OSError):
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for queue, count in depths.items():
                depth.add_metric([queue], count)
            for queue, seconds in ages.items():
                age.add_metric([queue], seconds)
        yield from (up, depth, age)

    def read(self, queues: list[str]) -> tuple[dict, dict]:
        url = settings.CELERY_BROKER_URL
        if is_redis_url(url):
            return redis_depths(url, queues), {}
        if is_filesystem_broker(url):
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
            return filesystem_depths(folder, queues, self.clock())
        raise OSError(f"queue depths of this broker are not known: {url.split(':', 1)[0]}")

