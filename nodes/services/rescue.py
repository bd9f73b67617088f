"""Rescue mode: the ephemeral environment with SSH access for the owner's keys, and back.

`machine_rescue_mode` (actions.py): Entering rescue mode, `rescue_job_create` (a token that
remembers who asked), power cycle with a one-time netboot. The rescue job
(nodes/metadata/rescue.sh) installs `GET public-keys/` as root's authorized_keys, starts
dropbear on port 22 and posts `rescue-ready/`: `rescue_ready_record` makes the machine Rescue
mode and issues a new token, so that the keys stay readable and a reboot netboots into rescue
again. `machine_exit_rescue_mode` revokes it and powers the machine off, or power cycles a
machine that was Deployed so that it boots its disk; the power result ends Exiting rescue mode
(nodes/services/power.py): back to the status it had before.
"""
import ipaddress
import re

from django.db import transaction

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Machine
from nodes.services.events import event_record
from nodes.services.lifecycle import lock_machine, machine_finish
from nodes.services.metadata import MetadataError
from nodes.services.power import machine_finish_and_power_off
from nodes.services.tokens import token_active, token_issue

RESCUE_PURPOSE = "rescue"
RESCUE_STATUSES = (NodeStatus.ENTERING_RESCUE_MODE, NodeStatus.RESCUE_MODE)
MESSAGE_MAX = 500
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/=]{1,64}$")


def rescue_job_create(machine: Machine, user) -> None:
    """Start the rescue job of a machine now Entering rescue mode (keys: the owner's, else
    those of `user`, who asked)."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    token_issue(machine, RESCUE_PURPOSE, {"user": user_id})


def rescue_exit_power_action(machine: Machine) -> str:
    """How exit-rescue-mode leaves: a Deployed machine boots its disk again (power cycle, as
    MAAS does); any other is powered off."""
    return "cycle" if machine.previous_status == NodeStatus.DEPLOYED else "off"


@transaction.atomic
def rescue_ready_record(machine: Machine, *, ok: bool, ip: str = "", host_key: str = "",
                        keys: int = 0, message: str = "") -> None:
    """The rescue job reports: SSH is up (Rescue mode), or it could not start it (Failed to
    enter rescue mode, powered off). Again in Rescue mode (a reboot): only an Event."""
    machine = lock_machine(machine.system_id)
    token = token_active(machine)
    if machine.status not in RESCUE_STATUSES or token is None or token.purpose != RESCUE_PURPOSE:
        raise MetadataError("No rescue job is running on this machine.")
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else ""
    except ValueError as exc:
        raise MetadataError(f"{ip!r} is not an IP address.") from exc
    if host_key and not _FINGERPRINT.match(host_key):
        raise MetadataError("host_key must be an SSH SHA256 fingerprint.")
    message = message[:MESSAGE_MAX]
    if not ok:
        reason = f"rescue environment failed: {message or 'no reason given'}"
        event_record(machine=machine, type="rescue_failed", level=EventLevel.ERROR,
                     description=reason)
        if machine.status == NodeStatus.ENTERING_RESCUE_MODE:
            machine_finish_and_power_off(machine.system_id, success=False, reason=reason)
        return
    who = f"{keys} authorized key(s)" if keys else "no SSH keys: nobody can log in"
    event_record(machine=machine, type="rescue_ready",
                 level=EventLevel.INFO if keys else EventLevel.WARNING,
                 description=f"Rescue environment up: ssh root@{ip or '?'} "
                             f"(host key {host_key or 'unknown'}; {who})")
    if machine.status == NodeStatus.ENTERING_RESCUE_MODE:
        options = token.options
        machine_finish(machine.system_id, success=True)  # closes the job: token revoked
        token_issue(machine, RESCUE_PURPOSE, options)
