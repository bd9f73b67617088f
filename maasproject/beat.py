"""Celery beat scheduler for several regions: each periodic job is sent once per tick cluster-wide.

Every region runs its own beat (no region is special, so any may die), and each beat would send
every periodic task on its own clock. Before sending, a beat claims the entry's tick in the
shared cache (Redis when the broker is Redis: every region sees the same keys) with an atomic
add that expires before the next tick; the beat that loses the race skips that tick. The sweeps
keep their PostgreSQL advisory locks as well, so even a claim lost with the cache does no harm.
"""
import logging
import re
from datetime import timedelta

from celery.beat import PersistentScheduler, ScheduleEntry
from django.core.cache import cache

logger = logging.getLogger(__name__)
# A claim expires before the next tick even when the two beats' clocks drift apart.
CLAIM_SHARE = 0.8


def claim_seconds(entry: ScheduleEntry) -> float | None:
    """How long a tick of `entry` is claimed for; None for schedules without a fixed period."""
    every = getattr(entry.schedule, "run_every", None)
    if not isinstance(every, timedelta) or every.total_seconds() <= 0:
        return None
    return every.total_seconds() * CLAIM_SHARE


def tick_key(name: str) -> str:
    """The cache key of an entry's claim: its name without spaces (keys valid in any cache)."""
    return "beat-tick:" + re.sub(r"[^\w.-]", "_", name)


def claim_tick(entry: ScheduleEntry) -> bool:
    """True if this beat sends the entry this tick (no other beat claimed it)."""
    seconds = claim_seconds(entry)
    if seconds is None:
        return True
    try:
        return add_claim(tick_key(entry.name), seconds)
    except Exception as exc:  # noqa: BLE001 - any cache outage: send, the sweeps' locks hold
        logger.warning("Cannot claim the tick of %r (%s); sending it anyway", entry.name, exc)
        return True


def add_claim(key: str, seconds: float) -> bool:
    """Add the claim unless it exists; it expires after `seconds`, to the millisecond on Redis.

    Django's cache timeouts are whole seconds: a 2 s period's 1.6 s claim became 1 s, and two
    beats more than 1 s apart in phase both sent every tick. Other caches (one region, the
    embedded default) round to whole seconds, at least 1.
    """
    client = getattr(cache, "_cache", None)
    if hasattr(client, "get_client"):  # Django's RedisCache (and the Sentinel one)
        full_key = cache.make_and_validate_key(key)
        return bool(client.get_client(full_key, write=True).set(
            full_key, 1, nx=True, px=max(1, int(seconds * 1000))))
    return bool(cache.add(key, 1, timeout=max(1, round(seconds))))


class ClusterScheduler(PersistentScheduler):
    """PersistentScheduler that sends a periodic task only for the ticks it claims."""

    def apply_entry(self, entry, producer=None):
        if not claim_tick(entry):
            logger.debug("%s: another region's beat sent this tick", entry.name)
            return
        super().apply_entry(entry, producer=producer)
