"""The end of a job (status/), abort, and the heartbeat and deadline sweeps: tokens always end."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.choices import EventLevel, NodeStatus, ResultType, ScriptStatus
from nodes.models import Event, ScriptResult, ScriptSet
from nodes.services.actions import machine_abort
from nodes.services.deadlines import expire_status_deadlines
from nodes.services.metadata import heartbeat_sweep
from nodes.services.tokens import token_active
from tests.nodes.api.metadata_helpers import API, machine_client, running_job

pytestmark = pytest.mark.django_db


def finish(results, *statuses) -> None:
    for result, status in zip(results, statuses, strict=True):
        exit_status = {ScriptStatus.PASSED: 0, ScriptStatus.FAILED: 1}.get(status, 143)
        ScriptResult.objects.filter(pk=result.pk).update(status=status, exit_status=exit_status)


@pytest.fixture
def report(power_requests):
    """POST status/ as the machine; (response, the power requests it sent: power off)."""

    def post(machine, key, status="ok", message=""):
        before = len(power_requests)
        response = machine_client(machine, key).post(
            API + "status/", {"status": status, "message": message})
        return response, power_requests[before:]

    return post


def test_all_passed_makes_the_machine_ready_and_powers_it_off(report):
    machine, script_set, results, key = running_job()
    finish(results, ScriptStatus.PASSED, ScriptStatus.PASSED)
    response, callbacks = report(machine, key)
    assert (response.status_code, response.content) == (200, b"poweroff=1\n")
    assert len(callbacks) == 1  # the power off, through the rack
    machine.refresh_from_db()
    script_set.refresh_from_db()
    assert machine.status == NodeStatus.READY and machine.status_expires is None
    assert script_set.finished is not None
    assert token_active(machine) is None
    event = Event.objects.get(machine=machine, type="job_finished")
    assert event.description == "commissioning job passed"
    # The token ended with the job.
    assert machine_client(machine, key).post(API + "status/", {"status": "ok"}).status_code \
        == 401


def test_commissioning_goes_on_to_testing_in_the_same_boot(report):
    machine, commissioning, results, key = running_job()
    _m, testing, (test_result,), _key = running_job(
        machine, names=("50-test",), result_type=ResultType.TESTING, token=False)
    finish(results, ScriptStatus.PASSED, ScriptStatus.PASSED)
    response, callbacks = report(machine, key)
    assert response.content == b"poweroff=0\n" and callbacks == []
    machine.refresh_from_db()
    assert (machine.status, machine.previous_status) == (NodeStatus.TESTING, NodeStatus.READY)
    assert machine.status_expires is not None
    commissioning.refresh_from_db()
    testing.refresh_from_db()
    assert commissioning.finished is not None and testing.finished is None
    assert testing.last_ping is not None  # the heartbeat sweep counts from the switch
    # Same token: GET job/ now answers the testing job.
    body = machine_client(machine, key).get(API + "job/", HTTP_ACCEPT="application/json").json()
    assert (body["job"], [s["name"] for s in body["scripts"]]) == ("testing", ["50-test"])
    finish([test_result], ScriptStatus.PASSED)
    response, callbacks = report(machine, key)
    assert response.content == b"poweroff=1\n" and len(callbacks) == 1
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY
    assert token_active(machine) is None


@pytest.mark.parametrize(("statuses", "reason"), [
    ((ScriptStatus.PASSED, ScriptStatus.FAILED), "commissioning script 02-b failed (exit 1)"),
    ((ScriptStatus.TIMEDOUT, ScriptStatus.PASSED), "commissioning script 01-a timed out"),
    ((ScriptStatus.PASSED, ScriptStatus.PENDING), "commissioning script 02-b did not run"),
    ((ScriptStatus.FAILED, ScriptStatus.TIMEDOUT),
     "commissioning script 01-a failed (exit 1) (and 1 more)"),
])
def test_a_failed_script_fails_commissioning_naming_it(report, statuses, reason):
    machine, script_set, results, key = running_job()
    _m, testing, (test_result,), _key = running_job(
        machine, names=("50-test",), result_type=ResultType.TESTING, token=False)
    finish(results, *statuses)
    response, callbacks = report(machine, key)
    assert response.content == b"poweroff=1\n" and len(callbacks) == 1
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_COMMISSIONING
    assert machine.error_description == reason
    assert token_active(machine) is None
    # Nothing of the job stays open: unrun results aborted, the testing set closed too.
    assert not ScriptSet.objects.filter(machine=machine, finished__isnull=True).exists()
    test_result.refresh_from_db()
    assert test_result.status == ScriptStatus.ABORTED
    assert ScriptResult.objects.filter(script_set=script_set, status__in=[
        ScriptStatus.PENDING, ScriptStatus.RUNNING]).count() == 0
    event = Event.objects.get(machine=machine, type="job_finished")
    assert event.level == EventLevel.ERROR and reason in event.description


def test_the_runner_reporting_a_failure_fails_the_job(report):
    machine, _set, results, key = running_job()
    finish(results, ScriptStatus.PASSED, ScriptStatus.PASSED)
    report(machine, key, status="failed", message="disk on fire")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_COMMISSIONING
    assert machine.error_description == "commissioning runner failed: disk on fire"


def test_a_failed_testing_job_fails_testing(report):
    machine, _set, results, key = running_job(result_type=ResultType.TESTING,
                                              names=("50-a", "60-b"))
    finish(results, ScriptStatus.PASSED, ScriptStatus.FAILED)
    report(machine, key)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_TESTING
    assert machine.error_description == "testing script 60-b failed (exit 1)"


def test_enable_ssh_keeps_the_machine_on(report):
    machine, _set, results, key = running_job(options={"enable_ssh": True})
    finish(results, ScriptStatus.PASSED, ScriptStatus.PASSED)
    response, callbacks = report(machine, key)
    assert response.content == b"poweroff=0\n" and callbacks == []
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY


def test_bad_status_reports_are_400_and_change_nothing(report):
    machine, _set, _results, key = running_job()
    for status in ("", "done"):
        response, callbacks = report(machine, key, status=status)
        assert response.status_code == 400 and callbacks == []
    machine.refresh_from_db()
    assert machine.status == NodeStatus.COMMISSIONING
    assert token_active(machine) is not None


def test_abort_aborts_unfinished_results_and_revokes_the_token(django_capture_on_commit_callbacks):
    machine, script_set, (a, b), key = running_job()
    ScriptResult.objects.filter(pk=a.pk).update(status=ScriptStatus.PASSED)
    ScriptResult.objects.filter(pk=b.pk).update(status=ScriptStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=False):
        machine_abort(machine.system_id, None)
    machine.refresh_from_db()
    assert machine.status == NodeStatus.NEW
    assert token_active(machine) is None
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (ScriptStatus.PASSED, ScriptStatus.ABORTED)
    script_set.refresh_from_db()
    assert script_set.finished is not None
    assert machine_client(machine, key).get(API + "job/").status_code == 401


def _ping(script_set, seconds_ago: float) -> None:
    ScriptSet.objects.filter(pk=script_set.pk).update(
        last_ping=timezone.now() - timedelta(seconds=seconds_ago))


def test_heartbeat_sweep_fails_machines_whose_runner_went_silent(settings, power_requests):
    settings.METADATA_HEARTBEAT_TIMEOUT = 300
    silent, silent_set, _r, key = running_job()
    testing, testing_set, _r2, _k2 = running_job(result_type=ResultType.TESTING,
                                                names=("50-t",))
    recent, recent_set, _r3, _k3 = running_job(names=("01-c",))
    never, _never_set, _r4, _k4 = running_job(names=("01-d",))  # runner never called in
    _ping(silent_set, 301)
    _ping(testing_set, 1000)
    _ping(recent_set, 100)
    failed = heartbeat_sweep()
    assert sorted(failed) == sorted([silent.system_id, testing.system_id])
    assert len(power_requests) == 2  # a power off each
    silent.refresh_from_db()
    testing.refresh_from_db()
    assert silent.status == NodeStatus.FAILED_COMMISSIONING
    assert testing.status == NodeStatus.FAILED_TESTING
    silent_set.refresh_from_db()
    assert silent.error_description == (
        f"runner silent since {silent_set.last_ping.isoformat(timespec='seconds')}")
    assert token_active(silent) is None and silent_set.finished is not None
    event = Event.objects.get(machine=silent, type="heartbeat_lost")
    assert event.level == EventLevel.ERROR and "runner silent since" in event.description
    for machine in (recent, never):
        machine.refresh_from_db()
        assert machine.status == NodeStatus.COMMISSIONING
        assert token_active(machine) is not None
    assert heartbeat_sweep() == []


def test_a_machine_that_never_booted_fails_at_the_boot_timeout(settings, power_requests):
    settings.MACHINE_BOOT_TIMEOUT = 900
    never, never_set, _r, _k = running_job()
    booting, _booting_set, _r2, _k2 = running_job(names=("01-c",))
    ScriptSet.objects.filter(pk=never_set.pk).update(
        created=timezone.now() - timedelta(seconds=901))
    assert heartbeat_sweep() == [never.system_id]
    assert power_requests == [(never.system_id, "off")]
    never.refresh_from_db()
    assert never.status == NodeStatus.FAILED_COMMISSIONING
    assert never.error_description.startswith(
        "no contact from the machine 900 s after its job started")
    event = Event.objects.get(machine=never, type="boot_timeout")
    assert event.level == EventLevel.ERROR and "did not boot" in event.description
    booting.refresh_from_db()
    assert booting.status == NodeStatus.COMMISSIONING


def test_heartbeat_sweep_ignores_machines_no_longer_in_their_job():
    machine, script_set, _results, _key = running_job()
    _ping(script_set, 10_000)
    type(machine).objects.filter(pk=machine.pk).update(status=NodeStatus.READY)
    assert heartbeat_sweep() == []


def test_deadline_sweep_revokes_the_token_and_closes_the_job(django_capture_on_commit_callbacks):
    machine, script_set, (a, _b), key = running_job()
    type(machine).objects.filter(pk=machine.pk).update(
        status_expires=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=False):
        assert expire_status_deadlines() == [machine.system_id]
    assert token_active(machine) is None
    script_set.refresh_from_db()
    a.refresh_from_db()
    assert script_set.finished is not None and a.status == ScriptStatus.ABORTED
    assert machine_client(machine, key).post(API + "heartbeat/").status_code == 401
