"""Which scripts of a job the runner gets next: for_hardware matching, may_reboot resumes and
the second inventory a recommission script asks for (MAAS's semantics, docs in the README).

The runner asks for its scripts (GET job/) at the start of each boot and again after a batch the
region cut short (`more`): for_hardware scripts wait until this job's built-in scripts have
passed, then run where the inventory matches and are Skipped elsewhere; a batch ends after a
recommission script, whose pass sends the built-in scripts round again. A may_reboot script that
was running when the machine came back is handed out again with HAS_STARTED=True.
"""
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from nodes.choices import EventLevel, ResultType, ScriptStatus
from nodes.models import Machine, ScriptResult, ScriptSet
from nodes.scripts.hardware import HardwareFacts, hardware_match, parse_modaliases
from nodes.scripts.output import parse_output
from nodes.services.events import event_record

ACTIVE = (ScriptStatus.PENDING, ScriptStatus.RUNNING)
BLOBS = ("stdout", "stderr", "output", "result")
INVENTORY_SETS = (ResultType.COMMISSIONING, ResultType.ENLISTMENT)
STREAM_FIELDS = {"stdout": "stdout", "stderr": "stderr", "combined": "output",
                 "result": "result"}


@dataclass
class JobBatch:
    """The results the runner runs now; `resumed`: may_reboot ones that rebooted the machine;
    `more`: some were held back, the runner asks again after these."""

    results: list[ScriptResult] = field(default_factory=list)
    resumed: set[int] = field(default_factory=set)
    more: bool = False


def hardware_facts(machine: Machine) -> HardwareFacts:
    """The machine's modaliases and DMI values from its newest passed built-in results."""
    texts = {}
    for name in ("30-modaliases", "30-dmi"):
        row = ScriptResult.objects.filter(
            script_set__machine=machine, script_set__result_type__in=INVENTORY_SETS,
            script_name=name, status=ScriptStatus.PASSED, script__default=True,
        ).order_by("-ended", "-id").values_list("stdout", flat=True).first()
        texts[name] = bytes(row or b"").decode("utf-8", errors="replace")
    dmi = parse_output("30-dmi", texts["30-dmi"]).data
    return HardwareFacts(modaliases=parse_modaliases(texts["30-modaliases"]), dmi=dmi)


def _is_builtin(result: ScriptResult) -> bool:
    return result.script is not None and result.script.default


@transaction.atomic
def job_batch(script_set: ScriptSet) -> JobBatch:
    """The next batch of a job's scripts, in name order (writes the skips, resets, resumes)."""
    _rerun_inventory_after_recommission(script_set)
    pending = list(ScriptResult.objects.select_for_update(of=("self",)).filter(
        script_set=script_set, status__in=ACTIVE).select_related("script").defer(*BLOBS)
        .order_by("script_name"))
    inventory_due = any(_is_builtin(r) for r in pending)
    batch, facts, more = JobBatch(), None, False
    for result in pending:
        script = result.script
        if script is not None and script.for_hardware and not script.default:
            if inventory_due:  # MAAS runs these after the built-ins: this job's inventory
                more = True
                continue
            facts = facts or hardware_facts(script_set.machine)
            if hardware_match(script.for_hardware, facts) is None:
                _skip(result, script.for_hardware)
                continue
        batch.results.append(result)
        if script is not None and script.recommission:
            more = True  # its pass sends the built-ins round again: ask after it
            break
    batch.more = more
    for result in batch.results:
        if result.status == ScriptStatus.RUNNING and result.script and result.script.may_reboot:
            batch.resumed.add(result.pk)
            _record(result, "script_resumed", "rebooted the machine (may_reboot): running it "
                                              "again with HAS_STARTED=True")
    return batch


def _skip(result: ScriptResult, entries: list[str]) -> None:
    """Skipped: the machine has none of the hardware the script is for (MAAS's status)."""
    reason = f"no hardware matching for_hardware {', '.join(entries)} on this machine"
    result.status, result.ended, result.runtime = ScriptStatus.SKIPPED, timezone.now(), 0
    result.output = result.stderr = f"Skipped: {reason}.\n".encode()
    result.save(update_fields=["status", "ended", "runtime", "output", "stderr"])
    _record(result, "script_skipped", f"skipped: {reason}")


def _rerun_inventory_after_recommission(script_set: ScriptSet) -> None:
    """A recommission script passed after the built-ins last ended: they are pending again."""
    if script_set.result_type not in INVENTORY_SETS:
        return
    last = script_set.results.filter(
        script__recommission=True, status=ScriptStatus.PASSED, ended__isnull=False,
    ).order_by("-ended").values_list("ended", "script_name").first()
    if last is None:
        return
    stale = script_set.results.filter(script__default=True, ended__lt=last[0]).exclude(
        status__in=ACTIVE)
    count = stale.update(status=ScriptStatus.PENDING, exit_status=None, started=None,
                         ended=None, runtime=None)
    if count:
        event_record(machine=script_set.machine, type="inventory_rerun",
                     description=f"{script_set.result_type} script {last[1]} asked for "
                                 f"recommissioning: the {count} built-in scripts run again")


def _record(result: ScriptResult, kind: str, what: str) -> None:
    script_set = result.script_set
    event_record(machine=script_set.machine, type=kind, level=EventLevel.INFO,
                 description=f"{script_set.result_type} script {result.script_name} {what}")


def rebooting(script_set: ScriptSet) -> bool:
    """Whether a may_reboot script of the job is running: its silence may be a reboot."""
    return script_set.results.filter(status=ScriptStatus.RUNNING,
                                     script__may_reboot=True).exists()


def result_stream(machine: Machine, result_id: int, stream: str) -> bytes:
    """One output stream of a result of the machine's running job (what a resumed may_reboot
    script printed before the reboot); DoesNotExist for anyone else's, KeyError for a bad
    stream name."""
    column = STREAM_FIELDS[stream]
    value = ScriptResult.objects.filter(
        pk=result_id, script_set__machine=machine, script_set__finished__isnull=True,
    ).values_list(column, flat=True).get()
    return bytes(value or b"")
