"""The one view of the MAAS API 2.0: authenticate, pick the handler's action, render the result."""
import orjson
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from maasapi.auth import request_user
from maasapi.errors import TEXT, BadRequest, MethodNotAllowed, NotFound, error_response
from maasapi.framework import Handler
from maasapi.params import request_params

JSON = "application/json"  # exactly: the maas CLI compares the whole header


@csrf_exempt  # no session cookies here, only OAuth headers: nothing for CSRF to protect
def handle(request, handler: type[Handler], **path_params: str) -> HttpResponse:
    """Serve one request to `handler`: an action's result as JSON, or MAAS's error answer."""
    try:
        if not handler.anonymous:
            request.user = request_user(request)
        op = request.GET.get("op")
        if op is None and request.method == "POST":
            op = request.POST.get("op")
        action = handler.find(request.method, op or None)
        if action is None:
            raise (BadRequest(f"Unrecognised signature: method={request.method} op={op}")
                   if op else MethodNotAllowed(f"Method {request.method} is not allowed."))
        result = action.function(handler(), request, request_params(request), **path_params)
    except Exception as exc:  # noqa: BLE001 - every known failure has a MAAS answer
        answer = error_response(exc)
        if answer is None:
            raise
        return answer
    return render(result)


def render(result) -> HttpResponse:
    """A handler's return value as the response: None is 204, a response passes through."""
    if isinstance(result, HttpResponse):
        return result
    if result is None:
        return HttpResponse(status=204)
    # orjson: ten times faster than json.dumps on the full machine list (maas-api benchmark).
    return HttpResponse(orjson.dumps(result), content_type=JSON)


def render_text(message: str, status: int = 200) -> HttpResponse:
    """A plain-text answer, as MAAS gives for operations that only report (import...)."""
    return HttpResponse(message, status=status, content_type=TEXT)


@csrf_exempt
def unknown_endpoint(request, rest: str = "") -> HttpResponse:
    """404 for a path no handler serves, as MAAS words it."""
    return NotFound(f"Unknown API endpoint: {request.path}.").response()


@csrf_exempt
def gone(request, rest: str = "") -> HttpResponse:
    """410: API 1.0 is long gone in MAAS too."""
    return render_text("The 1.0 API is no longer available. Use /MAAS/api/2.0/.", status=410)
