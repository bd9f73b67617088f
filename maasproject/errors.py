"""The error type every service raises for a refusal the caller can act on, with its HTTP answer.

Apps subclass ServiceError; maasproject.api.errors turns any of them into a JSON response, so
no API layer needs to know another app's errors.
"""
from http import HTTPStatus


class ServiceError(Exception):
    """A service refused the request; `status_code` and `body()` are its HTTP answer (400)."""

    status_code = HTTPStatus.BAD_REQUEST

    def body(self) -> dict:
        """The JSON body of the answer: {"detail": message} unless a subclass says more."""
        return {"detail": str(self)}


class NotPermitted(ServiceError):
    """The user may not do this (HTTP 403)."""

    status_code = HTTPStatus.FORBIDDEN


class Conflict(ServiceError):
    """The request conflicts with the current state of an object (HTTP 409)."""

    status_code = HTTPStatus.CONFLICT


class InUseError(Conflict):
    """The object is still referenced (machines, subnets, addresses) and cannot be deleted."""


class FieldErrors(ServiceError):
    """Invalid values, keyed by field, as DRF reports a serializer's errors (HTTP 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))

    def body(self) -> dict:
        return self.errors
