"""The last step seen on the boot timeline, and the deadline sweep's message that names it."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.choices import EventLevel, NodeStatus, ResultType
from nodes.models import Event
from nodes.services.deadlines import expire_status_deadlines
from nodes.services.events import event_record
from nodes.services.timeline import last_step_seen
from tests.factories import MachineFactory, ScriptSetFactory

pytestmark = pytest.mark.django_db


def at(event: Event, hour: int, minute: int, second: int) -> None:
    when = timezone.localtime().replace(hour=hour, minute=minute, second=second)
    Event.objects.filter(pk=event.pk).update(created=when - timedelta(days=1))


def test_deploying_machine_that_booted_locally_and_never_reported(
        django_capture_on_commit_callbacks):
    machine = MachineFactory(status=NodeStatus.DEPLOYING, previous_status=NodeStatus.ALLOCATED,
                             netboot=False, status_expires=timezone.now() - timedelta(minutes=1))
    at(event_record(machine=machine, type="http_file", description="HTTP GET root.img.gz"),
       11, 59, 0)
    at(event_record(machine=machine, type="boot_decision", level=EventLevel.DEBUG,
                    description="Boot decision for 52:54:00:99:00:01: local (asked by rack r1)"),
       12, 1, 2)
    at(event_record(machine=machine, type="deploy", level=EventLevel.AUDIT,
                    description="a user action, not a step"), 12, 5, 0)
    with django_capture_on_commit_callbacks(execute=False):
        assert expire_status_deadlines() == [machine.system_id]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert machine.error_description == (
        "Timed out: Deploying did not finish before its deadline; last step seen: local boot "
        "decision at 12:01:02 (the deployed OS never reported in)")
    assert machine.error_description in Event.objects.get(type="status_expired").description


def test_other_steps_are_named_by_type_and_description():
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    at(event_record(machine=machine, type="dhcp_ack",
                    description="DHCPACK 10.99.0.100 (rack r1)\nsecond line"), 9, 0, 5)
    assert last_step_seen(machine) == "dhcp_ack: DHCPACK 10.99.0.100 (rack r1) at 09:00:05"


def test_a_job_whose_runner_never_called_says_so():
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    ScriptSetFactory(machine=machine, result_type=ResultType.COMMISSIONING)
    at(event_record(machine=machine, type="tftp_file", description="TFTP lpxelinux.0"), 8, 0, 0)
    assert last_step_seen(machine) == ("tftp_file: TFTP lpxelinux.0 at 08:00:00 (the ephemeral "
                                       "environment never called the metadata API)")


def test_no_timeline_keeps_the_plain_message(django_capture_on_commit_callbacks):
    machine = MachineFactory(status=NodeStatus.TESTING, previous_status=NodeStatus.READY,
                             status_expires=timezone.now() - timedelta(minutes=1))
    assert last_step_seen(machine) == ""
    with django_capture_on_commit_callbacks(execute=False):
        expire_status_deadlines()
    machine.refresh_from_db()
    assert machine.error_description == "Timed out: Testing did not finish before its deadline."
