"""A power outcome delivered twice (a redelivery, a retry) is recorded once, by its request id."""
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from maasproject.celery import app as celery_app
from nodes.choices import NodeStatus, PowerState
from nodes.models import Event, Machine, PowerResultReceipt
from nodes.services.power import power_failure_record, power_receipts_prune, power_result_record
from nodes.tasks import prune_power_receipts, record_power_failure, record_power_result
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db


def releasing():
    return MachineFactory(status=NodeStatus.RELEASING, previous_status=NodeStatus.DEPLOYED,
                          power_type="fake", power_state=PowerState.ON)


def test_a_result_delivered_twice_is_one_event_and_one_transition(caplog):
    machine = releasing()
    outcome = {"system_id": machine.system_id, "action": "off", "purpose": "release",
               "state": "off", "rack": "r1", "request_id": "a" * 32}
    with caplog.at_level(logging.DEBUG, logger="nodes.services.power"):
        record_power_result.apply(kwargs=outcome).get()
        record_power_result.apply(kwargs=outcome).get()
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY and machine.power_state == PowerState.OFF
    assert Event.objects.filter(machine=machine, type="power_off").count() == 1
    assert Event.objects.filter(machine=machine, type="status_succeeded").count() == 1
    assert PowerResultReceipt.objects.filter(request_id="a" * 32).count() == 1
    assert any(r.levelno == logging.DEBUG and "already recorded" in r.getMessage()
               for r in caplog.records)


def test_a_failure_delivered_twice_fails_the_job_once():
    machine = MachineFactory(status=NodeStatus.COMMISSIONING, previous_status=NodeStatus.NEW,
                             power_type="fake")
    outcome = {"system_id": machine.system_id, "action": "on", "purpose": "job",
               "kind": "PowerConnectionError", "message": "BMC unreachable", "request_id": "b1"}
    record_power_failure.apply(kwargs=outcome).get()
    # The operator retries; the old failure comes back from a dead worker's queue.
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.COMMISSIONING)
    record_power_failure.apply(kwargs=outcome).get()
    machine.refresh_from_db()
    assert machine.status == NodeStatus.COMMISSIONING
    assert Event.objects.filter(machine=machine, type="power_error").count() == 1
    assert Event.objects.filter(machine=machine, type="status_failed").count() == 1


def test_a_result_and_a_failure_share_the_request_id_space():
    machine = releasing()
    power_result_record(system_id=machine.system_id, action="off", purpose="release",
                        state="off", request_id="c1")
    power_failure_record(system_id=machine.system_id, action="off", purpose="release",
                         kind="PowerError", message="late", request_id="c1")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY and machine.power_state == PowerState.OFF


def test_different_requests_are_each_recorded():
    machine = MachineFactory(power_type="fake")
    for request_id in ("d1", "d2"):
        power_result_record(system_id=machine.system_id, action="on", purpose="user",
                            state="on", request_id=request_id)
    assert Event.objects.filter(machine=machine, type="power_on").count() == 2


def test_an_outcome_without_request_id_is_always_recorded():
    """No rack was available: the region itself recorded the failure; nothing repeats it."""
    machine = MachineFactory(power_type="fake")
    for _ in range(2):
        power_failure_record(system_id=machine.system_id, action="on", purpose="user",
                             kind="NoRackAvailable", message="none")
    assert Event.objects.filter(machine=machine, type="power_error").count() == 2
    assert not PowerResultReceipt.objects.exists()


def test_an_unknown_machine_leaves_no_receipt():
    power_result_record(system_id="gone", action="on", purpose="user", state="on",
                        request_id="e1")
    assert not PowerResultReceipt.objects.exists()


def test_receipts_older_than_a_day_are_pruned_hourly():
    old = PowerResultReceipt.objects.create(request_id="old")
    PowerResultReceipt.objects.filter(pk=old.pk).update(
        created=timezone.now() - timedelta(days=2))
    PowerResultReceipt.objects.create(request_id="new")
    assert prune_power_receipts.apply().get() == 1
    assert list(PowerResultReceipt.objects.values_list("request_id", flat=True)) == ["new"]
    assert power_receipts_prune(timedelta(0)) == 1
    celery_app.loader.import_default_modules()
    celery_app.finalize()
    schedule = {entry["task"]: float(entry["schedule"])
                for entry in celery_app.conf.beat_schedule.values()}
    assert schedule["nodes.tasks.prune_power_receipts"] == 3600.0
