"""Rack status from heartbeats: running, degraded, dead; the beat sweep and its events."""
from datetime import timedelta

import pytest
from django.utils import timezone

from maasproject.celery import app as celery_app
from nodes.models import Event
from tests.factories import RackControllerFactory
from zones.models import RackController
from zones.services.racks import rack_dead_after, rack_status_sweep
from zones.tasks import rack_status_sweep as sweep_task

pytestmark = pytest.mark.django_db


def status_of(name: str) -> str:
    return RackController.objects.get(name=name).status


def test_dead_after_follows_the_setting(settings):
    settings.RACK_DEAD_AFTER = 3
    assert rack_dead_after() == 3


def test_sweep_transitions(settings):
    settings.RACK_DEAD_AFTER = 30
    now = timezone.now()
    RackControllerFactory(name="fresh", status="dead", last_heartbeat=now - timedelta(seconds=5))
    RackControllerFactory(name="stale", status="running",
                          last_heartbeat=now - timedelta(seconds=30))
    RackControllerFactory(name="never", status="running", last_heartbeat=None)
    RackControllerFactory(name="sick", status="running", last_heartbeat=now,
                          services={"dhcp": "failed", "worker": "running"})
    RackControllerFactory(name="steady", status="running", last_heartbeat=now)
    changed = rack_status_sweep(now=now)
    assert sorted(changed) == [("fresh", "running"), ("never", "dead"), ("sick", "degraded"),
                               ("stale", "dead")]
    assert status_of("steady") == "running"
    events = Event.objects.filter(type="rack_status")
    assert events.count() == 4
    assert events.get(hostname="stale").description == "Rack stale is now dead (was running)."
    assert rack_status_sweep(now=now) == []  # nothing changes twice
    assert events.count() == 4


def test_a_rack_dies_when_time_passes(settings):
    settings.RACK_DEAD_AFTER = 10
    now = timezone.now()
    RackControllerFactory(name="r", status="running", last_heartbeat=now)
    assert rack_status_sweep(now=now + timedelta(seconds=9)) == []
    assert rack_status_sweep(now=now + timedelta(seconds=10)) == [("r", "dead")]


def test_the_beat_task_runs_the_sweep():
    RackControllerFactory(name="r", status="running", last_heartbeat=None)
    assert sweep_task.apply().get() == [("r", "dead")]
    assert status_of("r") == "dead"


def test_the_sweep_is_scheduled_every_10_seconds():
    celery_app.finalize()
    schedule = celery_app.conf.beat_schedule
    entry = schedule["rack status from heartbeats"]
    assert entry["task"] == "zones.tasks.rack_status_sweep"
    assert entry["schedule"] == 10
