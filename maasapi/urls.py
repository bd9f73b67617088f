"""Routes of /MAAS/: the API 2.0 handlers (from their own paths), describe/, authenticate."""
import json
import re

from django.contrib.auth import authenticate
from django.http import HttpResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from maasapi import views
from maasapi.describe import describe
from maasapi.handlers import HANDLERS
from nodes.services.accounts import apikey_create


def _route(handler) -> str:
    """Django's path syntax for a handler path: {system_id} -> <str:system_id>."""
    return "MAAS/api/2.0/" + re.sub(r"\{(\w+)\}", r"<str:\1>", handler.path)


@csrf_exempt
def describe_view(request) -> HttpResponse:
    """describe/ (no authentication): the API as the handlers define it."""
    base = f"{request.scheme}://{request.get_host()}"
    return HttpResponse(json.dumps(describe(HANDLERS, base)), content_type=views.JSON)


@csrf_exempt
@require_POST
def authenticate_view(request) -> HttpResponse:
    """POST username, password (and consumer, the key's name) → a new API key; 403 if wrong."""
    user = authenticate(request, username=request.POST.get("username", ""),
                        password=request.POST.get("password", ""))
    if user is None or not user.is_active:
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
]
