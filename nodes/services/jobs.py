"""Closing a machine's job (token and script sets): shared by every way a job ends."""
from django.utils import timezone

from nodes.choices import ScriptStatus
from nodes.models import Machine, ScriptResult, ScriptSet
from nodes.services.tokens import token_revoke

UNFINISHED = (ScriptStatus.PENDING, ScriptStatus.RUNNING)


def script_set_close(script_set: ScriptSet) -> None:
    """Mark a script set finished; its results that never ended are aborted."""
    now = timezone.now()
    ScriptResult.objects.filter(script_set=script_set, status__in=UNFINISHED).update(
        status=ScriptStatus.ABORTED, ended=now
    )
    ScriptSet.objects.filter(pk=script_set.pk, finished__isnull=True).update(finished=now)
    script_set.finished = script_set.finished or now


def job_close(machine: Machine) -> None:
    """End whatever job the machine runs: revoke its token, close its open script sets."""
    token_revoke(machine)
    for script_set in ScriptSet.objects.filter(machine=machine, finished__isnull=True):
        script_set_close(script_set)
