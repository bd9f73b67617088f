"""Power polling: shares per tick, skips Broken and unqueryable machines, claims once."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.choices import NodeStatus
from nodes.models import Machine
from nodes.services.power_polling import claim_power_polls

pytestmark = pytest.mark.django_db


@pytest.fixture
def poll_settings(settings):
    settings.POWER_POLL_INTERVAL = 300
    settings.POWER_POLL_TICK = 60  # a fifth of the machines per tick
    return settings


def test_each_tick_claims_a_share_and_a_sweep_covers_everyone(poll_settings):
    from tests.factories import MachineFactory

    machines = MachineFactory.create_batch(10, power_type="fake")
    MachineFactory(power_type="manual")
    MachineFactory(power_type="fake", status=NodeStatus.BROKEN)
    now = timezone.now()
    seen = []
    for tick in range(5):
        claimed = claim_power_polls(now + timedelta(seconds=60 * tick))
        assert len(claimed) == 2  # ceil(10 pollable * 60 / 300): manual, Broken skipped
        seen += claimed
    assert {m.system_id for m in machines} <= set(seen)
    assert len(set(seen[:10])) == 10  # nobody twice before everyone once


def test_claimed_machines_are_not_claimed_again_within_the_interval(poll_settings):
    from tests.factories import MachineFactory

    MachineFactory.create_batch(3, power_type="fake")
    poll_settings.POWER_POLL_TICK = 300
    now = timezone.now()
    assert len(claim_power_polls(now)) == 3
    assert claim_power_polls(now + timedelta(seconds=10)) == []
    assert len(claim_power_polls(now + timedelta(seconds=301))) == 3
    assert Machine.objects.filter(power_poll_claimed__isnull=True).count() == 0


def test_a_poll_overtaken_by_a_power_on_does_not_undo_it(poll_settings):
    """The poll read "off" before the power on and reported after it: the machine stays on."""
    from nodes.services.power import power_result_record
    from tests.factories import MachineFactory

    machine = MachineFactory(power_type="fake", power_state="off")
    sent = timezone.now() - timedelta(seconds=5)
    assert claim_power_polls(sent) == [machine.system_id]
    power_result_record(system_id=machine.system_id, action="on", purpose="job", state="on",
                        request_id="power-on")
    power_result_record(system_id=machine.system_id, action="query", purpose="poll",
                        state="off", request_id="late-poll")
    assert Machine.objects.get(pk=machine.pk).power_state == "on"


def test_a_poll_with_nothing_newer_records_its_reading(poll_settings):
    from nodes.services.power import power_failure_record, power_result_record
    from tests.factories import MachineFactory

    machine = MachineFactory(power_type="fake", power_state="on")
    claim_power_polls(timezone.now())
    power_result_record(system_id=machine.system_id, action="query", purpose="poll",
                        state="off", request_id="poll-1")
    assert Machine.objects.get(pk=machine.pk).power_state == "off"
    claim_power_polls(timezone.now() + timedelta(seconds=301))
    Machine.objects.filter(pk=machine.pk).update(power_poll_claimed=timezone.now())
    power_failure_record(system_id=machine.system_id, action="query", purpose="poll",
                         kind="timeout", message="BMC silent", request_id="poll-2")
    assert Machine.objects.get(pk=machine.pk).power_state == "error"
