"""The project's DRF exception handler: service errors and model validation errors as JSON."""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from maasproject.api.unavailable import unavailable_response
from maasproject.errors import ServiceError


def too_large_body() -> dict:
    """The JSON body of a 413: the limit, in bytes and MiB."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return {"detail": f"The request body is larger than the limit of {limit} bytes "
                      f"({limit / 1024 / 1024:.3g} MiB)."}


def exception_handler(exc, context):
    """DRF's handler, plus ServiceError, ValidationError, DataError (400), big bodies (413)
    and a backend down (503)."""
    if isinstance(exc, ServiceError):
        return Response(exc.body(), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body = exc.message_dict
        else:
            body = {"non_field_errors": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DataError):  # a value the database refuses: the input, not the server
        set_rollback()
        return Response({"detail": "A value is not valid for the database (control characters, "
                                   "or a number or text too large)."},
                        status=status.HTTP_400_BAD_REQUEST)
    return unavailable_response(exc) or drf_exception_handler(exc, context)


def page_not_found(request, exception):
    """Django's 404 for a URL no view matches: JSON under /api/ (clients parse it), else HTML."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)
