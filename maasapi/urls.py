"""Routes of /MAAS/: the API 2.0 handlers (from their own paths), describe/, authenticate, and
the metadata service for deployed machines."""
import json
import re

from django.contrib.auth import authenticate
from django.http import HttpResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.exceptions import Throttled

from maasapi import metadata, views
from maasapi.describe import describe
from maasapi.errors import TEXT
from maasapi.handlers import HANDLERS
from maasproject.api.throttling import FailureLimit
from nodes.services.accounts import apikey_create


def _route(handler) -> str:
    """Django's path syntax for a handler path: {system_id} -> <str:system_id>."""
    return "MAAS/api/2.0/" + re.sub(r"\{(\w+)\}", r"<str:\1>", handler.path)


@csrf_exempt
def describe_view(request) -> HttpResponse:
    """describe/ (no authentication): the API as the handlers define it."""
    base = f"{request.scheme}://{request.get_host()}"
    return HttpResponse(json.dumps(describe(HANDLERS, base)), content_type=views.JSON)


# Wrong passwords an address may send per minute before authenticate/ answers 429.
LOGIN_FAILURES = FailureLimit("maas-login", limit=10, window=60)


@csrf_exempt
@require_POST
def authenticate_view(request) -> HttpResponse:
    """POST username, password (and consumer, the key's name) → a new API key; 403 if wrong,
    429 after LOGIN_FAILURES wrong ones from the same address (guessing costs a minute per 10)."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        LOGIN_FAILURES.check(address)
    except Throttled as exc:
        answer = HttpResponse(str(exc.detail), status=429, content_type=TEXT)
        answer["Retry-After"] = str(LOGIN_FAILURES.window)
        return answer
    user = authenticate(request, username=request.POST.get("username", ""),
                        password=request.POST.get("password", ""))
    if user is None or not user.is_active:
        LOGIN_FAILURES.record(address)
        return HttpResponse(status=403)
    consumer = request.POST.get("consumer", "") or f"{user.username}@api"
    key, full = apikey_create(user, consumer[:256], actor=user)
    consumer_key, token_key, token_secret = full.split(":")
    return HttpResponse(json.dumps({"consumer_key": consumer_key, "token_key": token_key,
                                    "token_secret": token_secret, "name": key.name}),
                        content_type=views.JSON)


urlpatterns = [
    path("MAAS/api/2.0/describe/", describe_view, name="maas-describe"),
    path("MAAS/accounts/authenticate/", authenticate_view, name="maas-authenticate"),
    *[path(_route(handler), views.handle, {"handler": handler}) for handler in HANDLERS],
    re_path(r"^MAAS/api/1\.0/(?P<rest>.*)$", views.gone),
    re_path(r"^MAAS/api/2\.0/(?P<rest>.*)$", views.unknown_endpoint),
    *metadata.urlpatterns,
]
