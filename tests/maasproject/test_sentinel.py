"""A `sentinel://` broker URL: read as kombu reads it, set in the region's and the rack's
Celery, the cache, the /healthz check and the persistence warning; against real Sentinels."""
import json
import subprocess
import sys

import pytest

from maasproject.backends import broker_persistence_problem, broker_redis
from maasproject.health import broker_ok
from maasproject.sentinel_cache import SentinelRedisCache
from rack_worker.env import broker_transport_options, sentinel_parts
from tests.ha.sentinel import MASTER_NAME, SentinelGroup
from tests.maasproject.test_settings import PROJECT_DIR, load_settings
from tests.processes import free_tcp_port, wait_until

URL = "sentinel://:s3cret@h1:26379;sentinel://h2:26380;sentinel://h3/2"


def test_a_sentinel_url_names_every_sentinel_the_database_and_the_password():
    assert sentinel_parts(URL) == {"sentinels": [("h1", 26379), ("h2", 26380), ("h3", 26379)],
                                   "db": 0, "username": None, "password": "s3cret"}
    assert sentinel_parts("sentinel://h1:1;sentinel://h2:2/3")["db"] == 0  # kombu: the first's
    assert sentinel_parts("sentinel://h1:1/3;sentinel://h2:2")["db"] == 3


def test_the_master_name_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("REDIS_SENTINEL_MASTER", raising=False)
    assert broker_transport_options(URL)["master_name"] == "mymaster"
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "metal")
    options = broker_transport_options(URL)
    assert options["master_name"] == "metal" and options["visibility_timeout"] > 0
    assert "master_name" not in broker_transport_options("redis://h1:6379/0")


def test_region_settings_and_the_rack_app_go_through_sentinel(tmp_path):
    env = {"VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": URL, "REDIS_SENTINEL_MASTER": "metal"}
    loaded = load_settings("maasproject.settings.base", **env)
    assert loaded["broker"] == URL and loaded["transport_options"]["master_name"] == "metal"
    assert loaded["cache"] == {"BACKEND": "maasproject.sentinel_cache.SentinelRedisCache",
                               "LOCATION": URL, "OPTIONS": {"master_name": "metal"}}
    rack = subprocess.run(
        [sys.executable, "-c", "import json; from rack_worker.celery_app import app; c = app.conf; "
         "print(json.dumps([c.broker_url, c.broker_transport_options, c.broker_transport, "
         "c.worker_consumer, c.broker_connection_max_retries]))"],
        cwd=PROJECT_DIR, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
        timeout=60, check=True)
    url, options, transport, consumer, retries = json.loads(rack.stdout.strip().splitlines()[-1])
    assert url == URL and options["master_name"] == "metal"
    assert transport == "rack_worker.sentinel_transport:Transport"
    assert (consumer, retries) == ("rack_worker.reconnect:FastReconnectConsumer", None)


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    sentinels = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    try:
        sentinels.start()
        yield sentinels
    finally:
        sentinels.stop()


@pytest.mark.integration
def test_cache_health_and_persistence_through_sentinel_follow_a_failover(group, settings,
                                                                          monkeypatch):
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", MASTER_NAME)
    settings.CELERY_BROKER_URL = group.url
    cache = SentinelRedisCache(group.url, {"OPTIONS": {"master_name": MASTER_NAME}})
    assert cache.add("tick", 1, 60) and not cache.add("tick", 2, 60)  # beat claims: atomic
    assert broker_ok() and broker_persistence_problem(group.url) is None
    broker_redis(group.url, 2).config_set("appendonly", "no")
    assert "appendonly no" in broker_persistence_problem(group.url)
    broker_redis(group.url, 2).config_set("appendonly", "yes")
    wait_until(lambda: group.role("b") == "slave" and group.linked(), 15, group.logs)

    group.kill_master()
    wait_until(lambda: group.master_port() == group.ports["b"], 30, group.logs)

    def cache_answers():
        try:
            return cache.get("tick")
        except Exception:  # noqa: BLE001 -- the old master refuses until the client moves on
            return None

    assert wait_until(cache_answers, 10, group.logs) == 1  # replicated, read on the new master
    assert broker_ok() and broker_persistence_problem(group.url) is None
    settings.CELERY_BROKER_URL = f"sentinel://127.0.0.1:{free_tcp_port()}/0"
    assert not broker_ok()
