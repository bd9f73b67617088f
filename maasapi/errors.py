"""Errors of the MAAS API 2.0 and the answers MAAS gives them (text, or JSON field errors)."""
import json
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, ValidationError
from django.http import Http404, HttpResponse

from maasproject.backends import unavailable_backend
from maasproject.errors import FieldErrors, ServiceError

TEXT = "text/plain; charset=utf-8"


class MaasApiError(Exception):
    """An answer other than success: status and text (or JSON) body."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str = "", *, json_body: dict | None = None) -> None:
        super().__init__(message)
        self.json_body = json_body

    @classmethod
    def fields(cls, errors: dict[str, list[str]]) -> "MaasApiError":
        return cls("", json_body=errors)

    def response(self) -> HttpResponse:
        if self.json_body is not None:
            return HttpResponse(json.dumps(self.json_body), status=self.status,
                                content_type="application/json")
        return HttpResponse(str(self), status=self.status, content_type=TEXT)


class BadRequest(MaasApiError):
    """400."""


class Unauthorized(MaasApiError):
    """401, with the challenge clients expect."""

    status = HTTPStatus.UNAUTHORIZED

    def response(self) -> HttpResponse:
        answer = super().response()
        answer["WWW-Authenticate"] = 'OAuth realm="OAuth"'
        return answer


class Forbidden(MaasApiError):
    """403."""

    status = HTTPStatus.FORBIDDEN


class NotFound(MaasApiError):
    """404."""

    status = HTTPStatus.NOT_FOUND


class MethodNotAllowed(MaasApiError):
    """405."""

    status = HTTPStatus.METHOD_NOT_ALLOWED


def error_response(exc: Exception) -> HttpResponse | None:
    """MAAS's answer to an exception from a handler, or None for a bug (the caller re-raises)."""
    if isinstance(exc, MaasApiError):
        return exc.response()
    if isinstance(exc, RequestDataTooBig):
        return HttpResponse(f"Request body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} "
                            "bytes.", status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE, content_type=TEXT)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return NotFound(str(exc) or "Not found.").response()
    if isinstance(exc, ValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return BadRequest.fields(errors).response()
    if isinstance(exc, FieldErrors):
        return BadRequest.fields(exc.errors).response()
    if isinstance(exc, ServiceError):
        # 409 for a wrong state carries no Retry-After: gomaasapi would retry it forever.
        return HttpResponse(str(exc), status=exc.status_code, content_type=TEXT)
    backend = unavailable_backend(exc)
    if backend is not None:
        answer = HttpResponse(f"The {backend} is unavailable; try again shortly.",
                              status=HTTPStatus.SERVICE_UNAVAILABLE, content_type=TEXT)
        answer["Retry-After"] = "10"
        return answer
    return None
