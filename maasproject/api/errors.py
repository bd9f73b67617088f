"""The project's DRF exception handler: service errors and model validation errors as JSON."""
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from maasproject.api.unavailable import unavailable_response
from maasproject.errors import ServiceError


def exception_handler(exc, context):
    """DRF's handler, plus ServiceError, Django's ValidationError and a backend down (503)."""
    if isinstance(exc, ServiceError):
        return Response(exc.body(), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body = exc.message_dict
        else:
            body = {"non_field_errors": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return unavailable_response(exc) or drf_exception_handler(exc, context)
