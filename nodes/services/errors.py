"""Errors raised by node services, each with its HTTP answer (maasproject.errors)."""
from http import HTTPStatus

from django.core.exceptions import ValidationError

from maasproject.errors import Conflict, FieldErrors, ServiceError
from nodes import lifecycle
from nodes.choices import NodeStatus


class ActionNotAllowed(Conflict):
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

    def body(self) -> dict:
        return {"detail": str(self), "status": self.status, "status_name": self.status_name,
                "locked": self.locked, "allowed_actions": self.allowed}


class NoMatchingMachine(Conflict):
    """No machine satisfies the allocation constraints (HTTP 409)."""


class InvalidConstraint(FieldErrors):
    """An allocation constraint names something that does not exist (HTTP 400)."""


class UnknownScripts(ValidationError):
    """Script names or tags that match no script of the job's type (HTTP 400, `scripts`)."""

    def __init__(self, names: list[str], script_type: str) -> None:
        self.names = sorted(names)
        super().__init__({"scripts": [
            f"Unknown {script_type} scripts or tags: {', '.join(self.names)}."
        ]})


class ScriptProtected(ServiceError):
    """A built-in script cannot be edited or deleted (HTTP 400)."""


class LinksNotEditable(Conflict):
    """A machine's interface links cannot change in its status (HTTP 409)."""

    def __init__(self, machine, editable: list[str], what: str = "network links") -> None:
        self.status = machine.status
        self.status_name = NodeStatus(machine.status).label
        super().__init__(
            f"Cannot change the {what} of machine {machine.system_id}: it is "
            f"{self.status_name}. They change only while it is {', '.join(editable)}."
        )

    def body(self) -> dict:
        return {"detail": str(self), "status": self.status, "status_name": self.status_name}


class KeySourceUnavailable(ServiceError):
    """Launchpad or GitHub could not be reached, or failed (HTTP 503)."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
