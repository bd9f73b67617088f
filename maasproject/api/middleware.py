"""Guards in front of every /api/ view: input the database could not store never reaches one."""
from django.core.exceptions import ValidationError
from django.http import JsonResponse

from maasproject.validators import validate_name

API_PREFIX = "/api/"


class ApiInputMiddleware:
    """Refuse (400, JSON) an /api/ path or query parameter with control characters."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            refused = _refused_input(request)
            if refused is not None:
                return JsonResponse(refused, status=400)
        return self.get_response(request)


def _refused_input(request) -> dict | None:
    """DRF-style errors for control characters in the path or the query, or None."""
    try:
        validate_name(request.path)
    except ValidationError as exc:
        return {"detail": f"Invalid path. {exc.messages[0]}"}
    errors = {}
    for name, values in request.GET.lists():
        for value in [name, *values]:
            try:
                validate_name(value)
            except ValidationError as exc:
                errors[name] = exc.messages
    return errors or None
