"""Several regions' beats send each periodic task once per tick (maasproject/beat.py)."""
import time
from datetime import timedelta

import pytest
from celery.beat import PersistentScheduler, ScheduleEntry
from celery.schedules import crontab, schedule
from django.core.cache import cache

from maasproject.beat import ClusterScheduler, claim_tick, tick_key
from maasproject.celery import app as celery_app
from tests.processes import skip_or_fail


def entry(name: str, every) -> ScheduleEntry:
    run_every = every if not isinstance(every, (int, float)) else schedule(timedelta(seconds=every))
    return ScheduleEntry(name=name, task="nodes.tasks.heartbeat_sweep", schedule=run_every,
                         app=celery_app)


@pytest.fixture
def name(request):
    key = f"test-{request.node.name}-{time.monotonic_ns()}"
    yield key
    cache.delete(tick_key(key))


def test_the_first_beat_claims_a_tick_and_the_next_tick_is_free_again(name):
    first, second = entry(name, 1.25), entry(name, 1.25)
    assert claim_tick(first) is True
    assert claim_tick(second) is False  # the other region's beat, same tick
    time.sleep(1.1)  # 80% of the period: the claim is gone before the next tick
    assert claim_tick(second) is True


def test_schedules_without_a_fixed_period_are_always_sent(name):
    assert claim_tick(entry(name, crontab())) is True
    assert claim_tick(entry(name, crontab())) is True


def test_only_the_claiming_scheduler_sends(name, tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr(PersistentScheduler, "apply_entry",
                        lambda self, item, producer=None: sent.append((id(self), item.name)))
    beats = [ClusterScheduler(celery_app, schedule_filename=str(tmp_path / f"beat{i}"),
                              lazy=True) for i in range(2)]
    for beat in beats:
        beat.apply_entry(entry(name, 30))
    assert sent == [(id(beats[0]), name)]


def test_every_beat_uses_the_cluster_scheduler():
    assert celery_app.conf.beat_scheduler == "maasproject.beat:ClusterScheduler"


def test_a_cache_outage_sends_rather_than_skips(name, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", broken)
    assert claim_tick(entry(name, 30)) is True


def test_on_redis_a_claim_lasts_to_the_millisecond_not_whole_seconds(name):
    """A 2 s period claims 1.6 s: whole seconds made it 1 s, and two beats more than a second
    apart in phase both sent every tick (tests/ha/test_regions.py saw 1.5 sweeps per tick)."""
    if not hasattr(getattr(cache, "_cache", None), "get_client"):
        skip_or_fail("the cache is not Redis (CELERY_BROKER_URL is no Redis URL)")
    assert claim_tick(entry(name, 2)) is True
    time.sleep(1.2)
    assert claim_tick(entry(name, 2)) is False  # still claimed after one whole second
    time.sleep(0.5)
    assert claim_tick(entry(name, 2)) is True  # and free again before the next tick
