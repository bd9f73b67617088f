"""Rack status from heartbeats: running, degraded, dead; the beat sweep and its events."""
from datetime import timedelta

import pytest
from django.utils import timezone

from maasproject.celery import app as celery_app
from nodes.models import Event
from tests.factories import RackControllerFactory
from zones.models import RackController
from zones.selectors import healthy_racks, rack_status_reason
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
    stale = (now - timedelta(seconds=30)).isoformat(timespec="seconds")
    assert events.get(hostname="stale").description == (
        f"Rack stale is now dead (was running): no heartbeat since {stale}.")
    assert events.get(hostname="fresh").description == "Rack fresh is now running (was dead)."
    assert events.get(hostname="sick").description == (
        "Rack sick is now degraded (was running): dhcp failed.")
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


def test_the_sweep_keeps_a_rack_degraded_by_its_reason_and_names_a_silent_one(settings):
    settings.RACK_DEAD_AFTER = 30
    now = timezone.now()
    RackControllerFactory(name="noloader", status="running", last_heartbeat=now,
                          services={"worker": "running", "bootsvc": "degraded"},
                          service_reasons={"bootsvc": "boot loaders missing: lpxelinux.0"})
    RackControllerFactory(name="gone", status="running",
                          last_heartbeat=now - timedelta(seconds=60))
    assert sorted(rack_status_sweep(now=now)) == [("gone", "dead"), ("noloader", "degraded")]
    assert rack_status_reason(RackController.objects.get(name="noloader")) == (
        "bootsvc degraded: boot loaders missing: lpxelinux.0")
    assert rack_status_reason(RackController.objects.get(name="gone")).startswith(
        "no heartbeat since ")
    assert Event.objects.filter(type="rack_status",
                                description__contains="gone is now dead (was running): no "
                                                      "heartbeat since").exists()


def test_power_work_goes_to_running_racks_first_and_to_degraded_ones_whose_worker_runs():
    now = timezone.now()
    RackControllerFactory(name="a-noloader", status="degraded", last_heartbeat=now,
                          services={"worker": "running", "bootsvc": "degraded"})
    RackControllerFactory(name="b-noworker", status="degraded", last_heartbeat=now,
                          services={"worker": "failed", "bootsvc": "running"})
    RackControllerFactory(name="c-fine", status="running", last_heartbeat=now,
                          services={"worker": "running"})
    RackControllerFactory(name="d-dead", status="dead", services={"worker": "running"})
    assert [rack.name for rack in healthy_racks()] == ["c-fine", "a-noloader"]
