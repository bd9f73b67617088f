"""Errors raised by zones services; the API maps InUseError to HTTP 409."""
from nodes.services.errors import ServiceError


class InUseError(ServiceError):
    """The object is still referenced (machines, subnets, addresses) and cannot be deleted."""
