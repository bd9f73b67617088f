"""Per-machine metadata tokens: issued when a job starts, revoked when it ends, checked per call."""
from django.utils import timezone

from maasproject.errors import ServiceError
from nodes.models import Machine, MachineToken


class TokenInvalid(ServiceError):
    """An unknown, revoked or malformed machine token (HTTP 401)."""


def token_issue(machine: Machine, purpose: str, options: dict | None = None) -> MachineToken:
    """A new active token for the machine's job; every earlier token is revoked.

    `options` is what a job without script sets was asked to do (erase: its mode).
    """
    token_revoke(machine)
    return MachineToken.objects.create(machine=machine, purpose=purpose, options=options or {})


def token_revoke(machine: Machine) -> int:
    """Revoke the machine's active tokens; return how many there were."""
    return MachineToken.objects.filter(machine=machine, revoked__isnull=True).update(
        revoked=timezone.now()
    )


def token_active(machine: Machine) -> MachineToken | None:
    """The machine's active token, if a job is running."""
    return MachineToken.objects.filter(machine=machine, revoked__isnull=True).first()


def token_authenticate(system_id: str, key: str) -> MachineToken:
    """The active token of `system_id` matching `key` (with its machine); else TokenInvalid."""
    if not system_id or not key:
        raise TokenInvalid("Missing machine token.")
    tokens = MachineToken.objects.select_related("machine").filter(
        machine__system_id=system_id, revoked__isnull=True
    )
    for token in tokens:
        if token.matches(key):
            return token
    raise TokenInvalid("Invalid or revoked machine token.")
