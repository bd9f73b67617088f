"""nodes.services.power_pending: a power request whose outcome never comes back is sent again,
then failed with an event; one that comes back is forgotten."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.choices import EventLevel, NodeStatus, PowerState
from nodes.models import PendingPowerRequest
from nodes.services.power import dispatch_power, power_result_record
from nodes.services.power_pending import power_requests_resend
from tests.factories import MachineFactory, RackControllerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def timeouts(settings):
    settings.POWER_RESULT_TIMEOUT = 60
    settings.POWER_RESULT_ATTEMPTS = 2
    return settings


def later(seconds: float = 61):
    return timezone.now() + timedelta(seconds=seconds)


def sent_ids(sent) -> list[str]:
    return [message["args"][0]["request_id"] for message in sent]


def test_a_request_is_tracked_until_its_outcome(sent):
    RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(power_type="fake")
    dispatch_power(machine.system_id, "on", purpose="job", netboot=True)
    pending = PendingPowerRequest.objects.get()
    assert (pending.request_id, pending.action, pending.purpose, pending.netboot,
            pending.rack, pending.attempts) == (sent_ids(sent)[0], "on", "job", True,
                                                "rack.r1", 1)
    power_result_record(system_id=machine.system_id, action="on", purpose="job", state="on",
                        request_id=pending.request_id)
    assert not PendingPowerRequest.objects.exists()


def test_polls_are_not_tracked_and_a_new_request_supersedes_older_ones(sent):
    RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(power_type="fake")
    dispatch_power(machine.system_id, "query", purpose="poll")
    assert not PendingPowerRequest.objects.exists()
    dispatch_power(machine.system_id, "on")
    dispatch_power(machine.system_id, "off")
    # A lost power on must not be sent again after the power off that followed it.
    assert list(PendingPowerRequest.objects.values_list("request_id", "action")) == [
        (sent_ids(sent)[2], "off")]


def test_an_overdue_request_goes_again_with_its_id_to_a_healthy_rack(sent, timeouts):
    first = RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(power_type="fake")
    dispatch_power(machine.system_id, "on", purpose="job", netboot=True)
    assert power_requests_resend() == []  # not overdue yet
    first.status = "dead"
    first.save()
    RackControllerFactory(name="r2", status="running")
    (request_id,) = power_requests_resend(now=later())
    assert sent_ids(sent) == [request_id, request_id]
    again = sent[1]["args"][0]
    assert sent[1]["queue"] == "rack.r2" and (again["action"], again["netboot"]) == ("on", True)
    pending = PendingPowerRequest.objects.get()
    assert (pending.attempts, pending.rack) == (2, "rack.r2")
    event = machine.events.get(type="power_retry")
    assert event.level == EventLevel.WARNING
    assert "no outcome from rack.r1 in 60 s; sent again to rack.r2 (attempt 2 of 2)" in (
        event.description)
    power_result_record(system_id=machine.system_id, action="on", purpose="job", state="on",
                        request_id=request_id)
    assert not PendingPowerRequest.objects.exists()


def test_out_of_attempts_fails_the_job_now_not_at_its_deadline(sent, timeouts):
    RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(power_type="fake", status=NodeStatus.COMMISSIONING,
                             previous_status=NodeStatus.NEW)
    dispatch_power(machine.system_id, "on", purpose="job", netboot=True)
    power_requests_resend(now=later())
    (request_id,) = power_requests_resend(now=later(130))
    assert len(sent) == 2 and not PendingPowerRequest.objects.exists()
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_COMMISSIONING
    assert machine.power_state == PowerState.ERROR
    error = machine.events.get(type="power_error")
    assert "(NoPowerResult)" in error.description and "after 2 attempt(s)" in error.description
    # The outcome, arriving after all, changes nothing: the request ended.
    power_result_record(system_id=machine.system_id, action="on", purpose="job", state="on",
                        request_id=request_id)
    machine.refresh_from_db()
    assert machine.power_state == PowerState.ERROR and not machine.events.filter(
        type="power_on").exists()


def test_with_no_healthy_rack_left_the_request_fails_at_once(sent, timeouts):
    rack = RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(power_type="fake", status=NodeStatus.RELEASING,
                             previous_status=NodeStatus.DEPLOYED)
    dispatch_power(machine.system_id, "off", purpose="release")
    rack.status = "dead"
    rack.save()
    power_requests_resend(now=later())
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_RELEASING
    assert "(NoRackAvailable)" in machine.events.get(type="power_error").description
    assert len(sent) == 1 and not PendingPowerRequest.objects.exists()


def test_a_request_of_a_deleted_machine_is_dropped(sent, timeouts):
    RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(power_type="fake")
    dispatch_power(machine.system_id, "on")
    machine.delete()
    power_requests_resend(now=later())
    assert len(sent) == 1 and not PendingPowerRequest.objects.exists()
