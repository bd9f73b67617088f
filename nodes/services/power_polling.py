"""Power polling: query every queryable machine about once per interval, spread over it."""
import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from nodes.models import Machine
from nodes.selectors import pollable_machines
from nodes.services.power import dispatch_power


def claim_power_polls(now=None) -> list[str]:
    """Claim this tick's share of due machines by stamping them; return their system ids.

    Each tick takes about count * tick / interval machines, oldest claim first, so a full
    sweep spreads over the interval. The stamp is the claim: with several regions, row locks
    (skip_locked) and the stamp keep two regions from polling the same machine.
    """
    now = now or timezone.now()
    interval = timedelta(seconds=settings.POWER_POLL_INTERVAL)
    machines = pollable_machines()
    share = math.ceil(machines.count() * settings.POWER_POLL_TICK / settings.POWER_POLL_INTERVAL)
    due = machines.filter(
        Q(power_poll_claimed__isnull=True) | Q(power_poll_claimed__lt=now - interval)
    )
    with transaction.atomic():
        ids = list(
            due.order_by(F("power_poll_claimed").asc(nulls_first=True), "id")
            .select_for_update(skip_locked=True)
            .values_list("id", "system_id")[: max(share, 0)]
        )
        Machine.objects.filter(id__in=[pk for pk, _ in ids]).update(power_poll_claimed=now)
    return [system_id for _, system_id in ids]


def poll_power_states() -> int:
    """Claim due machines and send each a power query; return how many were sent."""
    claimed = claim_power_polls()
    for system_id in claimed:
        dispatch_power(system_id, "query", purpose="poll")
    return len(claimed)
