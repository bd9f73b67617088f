"""The boot timeline read back for humans: the last step a machine was seen taking.

Every step of a boot leaves an Event on the machine (dhcp_ack, tftp_file, http_file from the
rack; boot_decision, script and job events, power results from the region), so when in-progress
work misses its deadline the newest of them says how far the machine got.
"""
import re

from django.utils import timezone

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event, Machine, ScriptSet

# Not steps of the machine: user actions (AUDIT) and the sweep's own verdict.
NOT_STEPS = frozenset({"status_expired", "status_failed", "status_succeeded"})
_DECISION = re.compile(r"^Boot decision for \S+: (\w+)")
STEP_MAX = 120


def last_step_seen(machine: Machine) -> str:
    """'<step> at HH:MM:SS' for the machine's newest timeline event (with a hint), or ''."""
    event = (Event.objects.filter(machine=machine).exclude(level=EventLevel.AUDIT)
             .exclude(type__in=NOT_STEPS).order_by("-created", "-id").first())
    if event is None:
        return ""
    at = timezone.localtime(event.created).strftime("%H:%M:%S")
    hint = _hint(machine)
    return f"{_step(event)} at {at}" + (f" ({hint})" if hint else "")


def _step(event: Event) -> str:
    """A boot decision by its action ('local boot decision'); others by their description."""
    decision = _DECISION.match(event.description)
    if event.type == "boot_decision" and decision:
        return f"{decision.group(1)} boot decision"
    text = (event.description.splitlines() or [""])[0].strip()
    return f"{event.type}: {text[:STEP_MAX]}" if text else event.type


def _hint(machine: Machine) -> str:
    """Which side went quiet, when the machine's state tells."""
    if machine.status == NodeStatus.DEPLOYING and not machine.netboot:
        return "the deployed OS never reported in"
    open_job = ScriptSet.objects.filter(machine=machine, finished__isnull=True)
    if open_job.exists() and not open_job.filter(last_ping__isnull=False).exists():
        return "the ephemeral environment never called the metadata API"
    return ""
