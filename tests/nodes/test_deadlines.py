"""Status deadlines: every in-progress status expires; a region beat task fails expired machines."""
from datetime import timedelta

import pytest
from django.utils import timezone

from maasproject.celery import app as celery_app
from nodes import lifecycle
from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event, Machine
from nodes.services.deadlines import expire_status_deadlines
from nodes.services.lifecycle import run_action
from tests.factories import MachineFactory

PAST = timedelta(minutes=1)

# Each in-progress status and the failed status its missed deadline leads to.
EXPIRY_CASES = [(status, failed) for status, (_ok, failed) in lifecycle.IN_PROGRESS.items()]


@pytest.fixture
def sweep(power_requests):
    """Run the sweep; return (expired system ids, the power requests it sent)."""

    def run(**kwargs):
        expired = expire_status_deadlines(**kwargs)
        return expired, list(power_requests)

    return run


def _machine(status, expires_in, **kwargs) -> Machine:
    expires = timezone.now() + expires_in if expires_in is not None else None
    return MachineFactory(status=status, status_expires=expires, **kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "failed"), EXPIRY_CASES, ids=lambda s: NodeStatus(s).name)
def test_expired_in_progress_machine_fails(status, failed, sweep):
    machine = _machine(status, -PAST, previous_status=NodeStatus.READY)

    expired, power_requests = sweep()

    assert expired == [machine.system_id]
    machine.refresh_from_db()
    assert machine.status == failed
    assert machine.status_expires is None
    assert NodeStatus(status).label in machine.error_description
    assert "deadline" in machine.error_description
    event = Event.objects.get(machine=machine, type="status_expired")
    assert event.level == EventLevel.ERROR
    assert machine.error_description in event.description
    assert "powering off" in event.description
    # The power-off is sent inside the sweep's transaction: a broker down rolls it back.
    assert power_requests == [(machine.system_id, "off")]


@pytest.mark.django_db
def test_unexpired_and_resting_machines_are_left_alone(sweep):
    unexpired = _machine(NodeStatus.COMMISSIONING, timedelta(minutes=10))
    no_deadline = _machine(NodeStatus.DEPLOYING, None)
    # A resting status with a stale deadline is not touched either.
    resting = [
        _machine(status, -PAST)
        for status in (NodeStatus.READY, NodeStatus.DEPLOYED, NodeStatus.NEW, NodeStatus.BROKEN,
                       NodeStatus.FAILED_COMMISSIONING, NodeStatus.ALLOCATED)
    ]
    expired = _machine(NodeStatus.TESTING, -PAST, previous_status=NodeStatus.READY)

    expired_ids, power_requests = sweep()
    assert expired_ids == [expired.system_id]

    for machine in [unexpired, no_deadline, *resting]:
        before = (machine.status, machine.status_expires, machine.error_description)
        machine.refresh_from_db()
        assert (machine.status, machine.status_expires, machine.error_description) == before
        assert not Event.objects.filter(machine=machine).exists()
    expired.refresh_from_db()
    assert expired.status == NodeStatus.FAILED_TESTING
    assert len(power_requests) == 1


@pytest.mark.django_db
def test_deadline_is_compared_with_now_argument(sweep):
    machine = _machine(NodeStatus.DEPLOYING, timedelta(minutes=10))
    assert sweep()[0] == []
    assert sweep(now=timezone.now() + timedelta(minutes=11))[0] == [machine.system_id]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT


@pytest.mark.django_db
def test_nothing_expired_returns_empty_and_writes_nothing(sweep):
    _machine(NodeStatus.READY, None)
    assert sweep() == ([], [])
    assert not Event.objects.exists()


def test_releasing_timeout_is_separate_from_the_default():
    """Releasing uses its own (shorter) timeout; resting statuses have no deadline.

    The defaults themselves (1800 s and 300 s) are checked in tests/maasproject/test_settings.py.
    """
    for status in lifecycle.IN_PROGRESS:
        expected = 300 if status == NodeStatus.RELEASING else 1800
        assert lifecycle.status_timeout_seconds(status, 1800, 300) == expected
    for status in set(NodeStatus.values) - set(lifecycle.IN_PROGRESS):
        assert lifecycle.status_timeout_seconds(status, 1800, 300) is None


def _assert_expires_in(machine: Machine, seconds: int) -> None:
    machine.refresh_from_db()
    remaining = (machine.status_expires - timezone.now()).total_seconds()
    assert seconds - 30 < remaining <= seconds, remaining


@pytest.mark.django_db
def test_commission_sets_default_deadline_from_settings(settings):
    settings.MACHINE_STATUS_TIMEOUT = 1800
    settings.MACHINE_RELEASING_TIMEOUT = 300
    machine = MachineFactory(status=NodeStatus.NEW)
    run_action(machine.system_id, "commission", None)
    assert machine.__class__.objects.get(pk=machine.pk).status == NodeStatus.COMMISSIONING
    _assert_expires_in(machine, 1800)


@pytest.mark.django_db
def test_releasing_deadline_is_shorter_and_follows_settings(settings):
    settings.MACHINE_STATUS_TIMEOUT = 1800
    settings.MACHINE_RELEASING_TIMEOUT = 300
    machine = MachineFactory(status=NodeStatus.DEPLOYED, power_type="ipmi")
    run_action(machine.system_id, "release", None)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.RELEASING
    _assert_expires_in(machine, 300)

    settings.MACHINE_RELEASING_TIMEOUT = 120
    other = MachineFactory(status=NodeStatus.DEPLOYED, power_type="ipmi")
    run_action(other.system_id, "release", None)
    _assert_expires_in(other, 120)


@pytest.mark.django_db
def test_resting_status_clears_deadline(settings):
    machine = _machine(NodeStatus.COMMISSIONING, timedelta(minutes=10),
                       previous_status=NodeStatus.NEW)
    run_action(machine.system_id, "abort", None)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.NEW
    assert machine.status_expires is None


def test_beat_schedule_runs_the_deadline_task(settings):
    """The on_after_finalize hook registers the sweep every DEADLINE_CHECK_INTERVAL seconds."""
    celery_app.loader.import_default_modules()
    celery_app.finalize()
    entries = [
        entry for entry in celery_app.conf.beat_schedule.values()
        if entry["task"] == "nodes.tasks.expire_status_deadlines"
    ]
    assert len(entries) == 1
    assert float(entries[0]["schedule"]) == float(settings.DEADLINE_CHECK_INTERVAL)
    assert "nodes.tasks.expire_status_deadlines" in celery_app.tasks


def test_deadline_task_routes_to_region_queue():
    from nodes.tasks import expire_status_deadlines as task

    assert celery_app.conf.task_default_queue == "region"
    assert task.name == "nodes.tasks.expire_status_deadlines"


@pytest.mark.django_db
def test_deadline_task_runs_the_service(django_capture_on_commit_callbacks):
    from nodes.tasks import expire_status_deadlines as task

    machine = _machine(NodeStatus.DISK_ERASING, -PAST, previous_status=NodeStatus.DEPLOYED)
    with django_capture_on_commit_callbacks(execute=False):
        assert task.apply().get() == [machine.system_id]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DISK_ERASING
