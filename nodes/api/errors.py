"""Map service errors to HTTP answers: 409 for lifecycle conflicts, 403, 400 with field errors."""
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from nodes.services.errors import (
    ActionNotAllowed,
    InvalidConstraint,
    NoMatchingMachine,
    NotPermitted,
    ScriptProtected,
)
from power.drivers.base import PowerSettingsError


def exception_handler(exc, context):
    """DRF exception handler that also understands service and model validation errors."""
    if isinstance(exc, ActionNotAllowed):
        return Response(
            {
                "detail": str(exc),
                "status": exc.status,
                "status_name": exc.status_name,
                "locked": exc.locked,
                "allowed_actions": exc.allowed,
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, NoMatchingMachine):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, InvalidConstraint):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ScriptProtected):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, NotPermitted):
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, PowerSettingsError):
        if "power_type" in exc.errors:
            return Response({"power_type": exc.errors["power_type"]}, status=400)
        return Response({"power_parameters": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body = exc.message_dict
        else:
            body = {"non_field_errors": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
