"""Guards in front of every /api/ view: input the database could not store never reaches one."""
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import JsonResponse

from maasproject.api.errors import too_large_body
from maasproject.validators import validate_name

API_PREFIX = "/api/"


class ApiInputMiddleware:
    """Refuse an /api/ path or query parameter with control characters (400), and answer a
    body over DATA_UPLOAD_MAX_MEMORY_SIZE read outside DRF with a JSON 413."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            refused = _refused_input(request)
            if refused is not None:
                return JsonResponse(refused, status=400)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith(API_PREFIX) and isinstance(exception, RequestDataTooBig):
            return JsonResponse(too_large_body(), status=413)
        return None


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
