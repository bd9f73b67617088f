"""Metadata API writes: what a machine's runner reports (results, heartbeats, job end, hello)."""
import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from maasproject.errors import ServiceError
from nodes.choices import EventLevel, NodeStatus, ResultType, ScriptStatus
from nodes.models import Interface, Machine, ScriptResult, ScriptSet
from nodes.models.hardware import normalise_mac
from nodes.selectors import JOB_RESULT_TYPES, job_script_set
from nodes.services.deploy import deploy_job_end
from nodes.services.events import event_record
from nodes.services.inventory import inventory_apply
from nodes.services.jobs import script_set_close
from nodes.services.lifecycle import (
    lock_machine,
    machine_finish,
    sweep_lock_acquired,
    update_deadline,
)
from nodes.services.power import dispatch_power, machine_finish_and_power_off
from nodes.services.script_flow import rebooting

# Upload stream name -> ScriptResult field.
STREAMS = {"stdout": "stdout", "stderr": "stderr", "combined": "output", "result": "result"}
HEARTBEAT_SWEEP_LOCK = 0x6D6161735F6862
MESSAGE_MAX = 500


class MetadataError(ServiceError):
    """A malformed or out-of-place report from a runner (HTTP 400); nothing is stored."""


def _result(machine: Machine, result_id: int) -> ScriptResult:
    """A result of the machine's running job, locked; DoesNotExist for anyone else's."""
    return ScriptResult.objects.select_for_update(of=("self",)).select_related(
        "script_set", "script"
    ).get(pk=result_id, script_set__machine=machine, script_set__finished__isnull=True)


def _touch(script_set: ScriptSet) -> None:
    """The runner called in: note it for the heartbeat sweep."""
    ScriptSet.objects.filter(pk=script_set.pk).update(last_ping=timezone.now())


def _title(result: ScriptResult) -> str:
    return f"{result.script_set.result_type} script {result.script_name}"


@transaction.atomic
def result_start(machine: Machine, result_id: int) -> ScriptResult:
    """The runner starts a script: the result is running."""
    result = _result(machine, result_id)
    if result.is_final:
        raise MetadataError(f"{_title(result)} already ended ({result.status}).")
    result.status, result.started = ScriptStatus.RUNNING, timezone.now()
    result.save(update_fields=["status", "started"])
    _touch(result.script_set)
    event_record(machine=machine, type="script_started", description=f"{_title(result)} started")
    return result


@transaction.atomic
def result_output(machine: Machine, result_id: int, stream: str, data: bytes) -> ScriptResult:
    """Replace one output stream of a result (stdout, stderr, combined or result)."""
    field = STREAMS.get(stream)
    if field is None:
        raise MetadataError(f"Unknown stream {stream!r}: use one of {', '.join(STREAMS)}.")
    if len(data) > settings.METADATA_MAX_OUTPUT:
        raise MetadataError(f"Output larger than {settings.METADATA_MAX_OUTPUT} bytes.")
    result = _result(machine, result_id)
    setattr(result, field, bytes(data))
    result.save(update_fields=[field])
    _touch(result.script_set)
    return result


@transaction.atomic
def result_finish(
    machine: Machine, result_id: int, *, exit_status: int, runtime: float, timed_out: bool
) -> ScriptResult:
    """A script ended: passed (exit 0), failed or timed out; built-in output feeds inventory."""
    result = _result(machine, result_id)
    if result.is_final:
        raise MetadataError(f"{_title(result)} already ended ({result.status}).")
    if timed_out:
        result.status = ScriptStatus.TIMEDOUT
    else:
        result.status = ScriptStatus.PASSED if exit_status == 0 else ScriptStatus.FAILED
    result.exit_status, result.runtime, result.ended = exit_status, runtime, timezone.now()
    result.started = result.started or result.ended - timedelta(seconds=runtime)
    result.save(update_fields=["status", "exit_status", "runtime", "ended", "started"])
    _touch(result.script_set)
    inventory_apply(result)
    failed = result.status != ScriptStatus.PASSED
    event_record(
        machine=machine, type="script_finished",
        level=EventLevel.WARNING if failed else EventLevel.INFO,
        description=f"{_title(result)}: {result.get_status_display()} "
                    f"(exit {exit_status}) in {runtime:.1f} s",
    )
    return result


def heartbeat(machine: Machine) -> None:
    """The runner is alive: last_ping of the running job's script set. The erase job has none:
    its heartbeat pushes the Disk erasing deadline forward instead, so a long erase of a big
    disk does not fail while it runs (it fails MACHINE_STATUS_TIMEOUT after the last one)."""
    script_set = job_script_set(machine)
    if script_set is not None:
        _touch(script_set)
        return
    if machine.status != NodeStatus.DISK_ERASING:
        raise MetadataError("No job is running on this machine.")
    with transaction.atomic():
        machine = lock_machine(machine.system_id)
        if machine.status == NodeStatus.DISK_ERASING:
            update_deadline(machine)
            machine.save(update_fields=["status_expires", "updated"])


def job_report(machine: Machine, *, ok: bool, message: str = "") -> bool:
    """The runner ends its job; return whether the machine should power itself off.

    All passed: commissioning goes on to testing in the same boot when testing scripts were
    selected, else the machine is Ready. Anything else fails it, naming the first failure.
    """
    with transaction.atomic():
        machine = lock_machine(machine.system_id)
        script_set = job_script_set(machine)
        if script_set is None:
            raise MetadataError("No job is running on this machine.")
        failure = job_failure(script_set, ok, message[:MESSAGE_MAX])
        script_set_close(script_set)
        if script_set.result_type == ResultType.DEPLOYMENT:
            return deploy_job_end(machine, script_set, failure, message[:MESSAGE_MAX])
        if failure is None and _testing_follows(machine):
            _start_testing(machine)
            return False
        event_record(
            machine=machine, type="job_finished",
            level=EventLevel.ERROR if failure else EventLevel.INFO,
            description=f"{script_set.result_type} job " + (f"failed: {failure}"
                                                             if failure else "passed"),
        )
        machine_finish(machine.system_id, success=failure is None, reason=failure or "")
        poweroff = not script_set.options.get("enable_ssh")
        if poweroff:
            dispatch_power(machine.system_id, "off")
    return poweroff


def job_failure(script_set: ScriptSet, ok: bool, message: str) -> str | None:
    """Why a job failed (its first failing script by name), or None when it passed."""
    done = (ScriptStatus.PASSED, ScriptStatus.SKIPPED)
    bad = [r for r in script_set.results.order_by("script_name") if r.status not in done]
    if bad:
        first = bad[0]
        what = {
            ScriptStatus.FAILED: f"failed (exit {first.exit_status})",
            ScriptStatus.TIMEDOUT: "timed out",
            ScriptStatus.ABORTED: "was aborted",
        }.get(first.status, "did not run")
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return f"{script_set.result_type} script {first.script_name} {what}{more}"
    if not ok:
        return f"{script_set.result_type} runner failed: {message or 'no reason given'}"
    return None


def _testing_follows(machine: Machine) -> bool:
    return machine.status == NodeStatus.COMMISSIONING and ScriptSet.objects.filter(
        machine=machine, result_type=ResultType.TESTING, finished__isnull=True
    ).exists()


def _start_testing(machine: Machine) -> None:
    """Commissioning passed and testing was selected: Testing, same boot, same token."""
    machine.complete()  # Commissioning -> Ready: testing then remembers Ready
    machine.test()
    update_deadline(machine)
    machine.save()
    _touch(job_script_set(machine))
    event_record(machine=machine, type="job_finished",
                 description="commissioning job passed; testing follows in the same boot")
    event_record(machine=machine, type="test", description="Commissioning → Testing")


def hello_record(machine: Machine | None, *, mac: str = "", ip: str = "") -> Machine:
    """An ephemeral environment with no job said hello (the machine found by MAC if needed)."""
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else ""
    except ValueError as exc:
        raise MetadataError(f"{ip!r} is not an IP address.") from exc
    mac = normalise_mac(mac) if mac else ""
    if machine is None:
        machine = Interface.objects.select_related("machine").get(mac_address=mac).machine
    event_record(machine=machine, type="hello",
                 description=f"Ephemeral environment up with no job (ip {ip or '-'}, "
                             f"mac {mac or '-'})")
    return machine


def heartbeat_sweep(now=None) -> list[str]:
    """Fail Commissioning/Testing/Deploying machines whose runner went silent, or never spoke
    MACHINE_BOOT_TIMEOUT after its job started (the machine did not boot); their system ids."""
    now = now or timezone.now()
    cutoffs = (now - timedelta(seconds=settings.METADATA_HEARTBEAT_TIMEOUT),
               now - timedelta(seconds=settings.MACHINE_BOOT_TIMEOUT))
    failed = []
    with transaction.atomic():
        if not sweep_lock_acquired(HEARTBEAT_SWEEP_LOCK):
            return failed
        stale = set(ScriptSet.objects.filter(
            Q(last_ping__lt=cutoffs[0]) | Q(last_ping__isnull=True, created__lt=cutoffs[1]),
            finished__isnull=True, machine__status__in=list(JOB_RESULT_TYPES),
        ).values_list("machine_id", flat=True))
        for machine_id in stale:
            if _runner_lost(machine_id, *cutoffs):
                failed.append(_system_id(machine_id))
    return failed


def _runner_lost(machine_id: int, silent_since, booting_since) -> bool:
    """Fail one machine if its running job is still silent or still not booted (re-checked
    under its row lock)."""
    machine = Machine.objects.select_for_update(skip_locked=True).filter(pk=machine_id).first()
    script_set = job_script_set(machine) if machine is not None else None
    if script_set is None:
        return False
    if script_set.last_ping is None:
        if script_set.created >= booting_since:
            return False
        kind = "boot_timeout"
        reason = (f"no contact from the machine {settings.MACHINE_BOOT_TIMEOUT} s after its "
                  f"job started: it did not boot the ephemeral environment (see its console, "
                  f"boot order and the rack's boot file events)")
    elif script_set.last_ping < silent_since:
        if script_set.last_ping >= booting_since and rebooting(script_set):
            return False  # a may_reboot script's reboot: a netboot's time to call back
        kind = "heartbeat_lost"
        reason = f"runner silent since {script_set.last_ping.isoformat(timespec='seconds')}"
    else:
        return False
    event_record(machine=machine, type=kind, level=EventLevel.ERROR,
                 description=f"{script_set.result_type} {reason}; powering off")
    machine_finish_and_power_off(machine.system_id, success=False, reason=reason)
    return True


def _system_id(machine_id: int) -> str:
    return Machine.objects.values_list("system_id", flat=True).get(pk=machine_id)
