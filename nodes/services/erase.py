"""Release with erase: the erase job's options, its report, and how the machine ends.

`machine_release(erase=True)` (actions.py) puts the machine in Disk erasing and calls
`erase_job_create` in its transaction: a token whose options hold the mode. The ephemeral
environment's erase job (nodes/metadata/erase.sh) erases and reads back every disk, then posts
one report line per disk to `erase-report/`; `erase_report_record` writes the `erase_report`
Event and ends the job: Ready (owner, user data and automatic addresses cleared) when every
disk passed, else Failed disk erasing naming the first failure; powered off either way.
"""
import re

from django.core.exceptions import ValidationError
from django.db import transaction

from nodes.choices import EventLevel, NodeStatus
from nodes.metadata.render import ERASE_MODES
from nodes.models import Machine
from nodes.selectors import erase_disks
from nodes.services.events import event_record
from nodes.services.lifecycle import lock_machine
from nodes.services.metadata import MetadataError
from nodes.services.power import machine_finish_and_power_off
from nodes.services.tokens import token_active, token_issue

ERASE_PURPOSE = "erase"
FALLBACKS = ("full", "quick")
REPORT_MAX_DISKS = 64
NOTE_MAX = 500
_DISK_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
INTEGER_FIELDS = ("size", "bytes_written", "samples", "bad")


def erase_options(*, erase: bool, erase_mode: str = "", quick_erase: bool | None = None,
                  secure_erase: bool | None = None) -> tuple[str, str]:
    """(mode, fallback when secure erase is unavailable) from `erase_mode` or MAAS's booleans.

    MAAS: secure_erase and quick_erase together try secure and fall back to quick; secure
    alone falls back to full; quick alone is quick; neither is a full erase.
    ValidationError (field errors) for options that contradict each other or come without
    erase=true.
    """
    if not erase:
        if erase_mode or quick_erase or secure_erase:
            raise ValidationError({"erase": [
                "erase_mode, quick_erase and secure_erase need erase=true."]})
        return "", "full"
    if erase_mode and erase_mode not in ERASE_MODES:
        raise ValidationError({"erase_mode": [f"Choose one of {', '.join(ERASE_MODES)}."]})
    if (secure_erase and erase_mode not in ("", "secure")) or (quick_erase
                                                                and erase_mode == "full"):
        raise ValidationError({"erase_mode": [
            f"erase_mode={erase_mode} contradicts quick_erase/secure_erase."]})
    mode = erase_mode or ("secure" if secure_erase else "quick" if quick_erase else "full")
    fallback = "quick" if mode == "secure" and quick_erase else "full"
    return mode, fallback


def erase_job_create(machine: Machine, mode: str, fallback: str = "full") -> None:
    """Start the erase job of a machine now Disk erasing: a token carrying the mode."""
    if mode not in ERASE_MODES or fallback not in FALLBACKS:
        raise ValueError(f"bad erase mode {mode!r} / fallback {fallback!r}")
    token_issue(machine, ERASE_PURPOSE, {"mode": mode, "secure_fallback": fallback})


def erase_report_parse(text: str) -> list[dict]:
    """The report's disks: one line each, tab-separated key=value fields (erase.sh's
    `disk size requested mode bytes_written samples bad result note`); MetadataError if
    malformed."""
    disks = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = dict(part.partition("=")[::2] for part in line.split("\t") if part)
        disks.append(_disk(fields, number))
    if len(disks) > REPORT_MAX_DISKS:
        raise MetadataError(f"More than {REPORT_MAX_DISKS} disks in the erase report.")
    names = [disk["disk"] for disk in disks]
    if len(set(names)) != len(names):
        raise MetadataError("A disk appears twice in the erase report.")
    return disks


def _disk(fields: dict, number: int) -> dict:
    where = f"erase report line {number}"
    if not _DISK_NAME.match(fields.get("disk", "")):
        raise MetadataError(f"{where}: missing or bad disk name.")
    if fields.get("result") not in ("passed", "failed"):
        raise MetadataError(f"{where}: result must be passed or failed.")
    for key in ("mode", "requested"):
        if fields.get(key) not in ERASE_MODES:
            raise MetadataError(f"{where}: {key} must be one of {', '.join(ERASE_MODES)}.")
    disk = {"disk": fields["disk"], "mode": fields["mode"], "requested": fields["requested"],
            "result": fields["result"], "note": fields.get("note", "").strip()[:NOTE_MAX]}
    for key in INTEGER_FIELDS:
        value = fields.get(key, "0") or "0"
        if not value.isdigit():
            raise MetadataError(f"{where}: {key} must be a non-negative integer.")
        disk[key] = int(value)
    return disk


def erase_failure(disks: list[dict], expected: list[str]) -> str | None:
    """Why the erase failed (the first failing disk by name), or None when every disk passed:
    each one failed, missing from the report although the inventory has it, or unverified."""
    reported = {disk["disk"] for disk in disks}
    problems = [f"{name}: not in the erase report" for name in expected if name not in reported]
    for disk in sorted(disks, key=lambda d: d["disk"]):
        if disk["result"] != "passed":
            problems.append(f"{disk['disk']}: {disk['note'] or 'failed'}")
        elif disk["samples"] == 0 or disk["bad"]:
            problems.append(f"{disk['disk']}: reported passed but {disk['bad']} of "
                            f"{disk['samples']} sampled blocks are not zero")
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"Disk erasing failed: {problems[0]}{more}"


def erase_report_describe(disks: list[dict], failure: str | None) -> str:
    """The erase_report Event: a summary line, then one line per disk."""
    lines = [failure or f"Disk erasing passed: {len(disks)} disk(s) erased and verified"
             + ("" if disks else " (no disks found)")]
    for disk in disks:
        requested = (f" ({disk['requested']} requested)"
                     if disk["requested"] != disk["mode"] else "")
        lines.append(
            f"{disk['disk']}: {disk['size']} bytes, {disk['mode']} erase{requested}, "
            f"{disk['bytes_written']} bytes written, {disk['samples']} blocks read back, "
            f"{disk['bad']} not zero: {disk['result']}"
            + (f"; {disk['note']}" if disk["note"] else "")
        )
    return "\n".join(lines)


def erase_report_record(machine: Machine, text: str) -> bool:
    """The erase job's report: an `erase_report` Event, then Ready or Failed disk erasing;
    return whether the machine should power itself off (always: the region powers it off too).
    """
    with transaction.atomic():
        machine = lock_machine(machine.system_id)
        token = token_active(machine)
        if (machine.status != NodeStatus.DISK_ERASING or token is None
                or token.purpose != ERASE_PURPOSE):
            raise MetadataError("No erase job is running on this machine.")
        disks = erase_report_parse(text)
        failure = erase_failure(disks, erase_disks(machine))
        event_record(machine=machine, type="erase_report",
                     level=EventLevel.ERROR if failure else EventLevel.INFO,
                     description=erase_report_describe(disks, failure))
        machine_finish_and_power_off(machine.system_id, success=failure is None,
                                     reason=failure or "")
    return True
