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
