"""Errors raised by node services; the API maps them to HTTP statuses."""
from django.core.exceptions import ValidationError

from nodes import lifecycle
from nodes.choices import NodeStatus


class ServiceError(Exception):
    """Base of service errors."""


class ActionNotAllowed(ServiceError):
    """The action is not allowed from the machine's current status (HTTP 409)."""

    def __init__(self, machine, action: str, reason: str = "") -> None:
        self.status = machine.status
        self.status_name = NodeStatus(machine.status).label
        self.action = action
        self.allowed = lifecycle.allowed_actions(machine.status, machine.locked)
        self.locked = machine.locked
        why = reason or (
            "it is locked" if machine.locked and action not in lifecycle.ALLOWED_WHEN_LOCKED
            else f"it is {self.status_name}"
        )
        super().__init__(
            f"Cannot {action} machine {machine.system_id}: {why}. "
            f"Allowed actions: {', '.join(self.allowed) or 'none'}."
        )


class NotPermitted(ServiceError):
    """The user may not perform this action on this machine (HTTP 403)."""


class NoMatchingMachine(ServiceError):
    """No machine satisfies the allocation constraints (HTTP 409)."""


class InvalidConstraint(ServiceError):
    """An allocation constraint names something that does not exist (HTTP 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class UnknownScripts(ValidationError):
    """Script names or tags that match no script of the job's type (HTTP 400, `scripts`)."""

    def __init__(self, names: list[str], script_type: str) -> None:
        self.names = sorted(names)
        super().__init__({"scripts": [
            f"Unknown {script_type} scripts or tags: {', '.join(self.names)}."
        ]})


class ScriptProtected(ServiceError):
    """A built-in script cannot be edited or deleted (HTTP 400)."""
