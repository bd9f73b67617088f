"""MAAS's metadata service at /MAAS/metadata/, for the deployed OS's own cloud-init.

cloud-init's MAAS datasource reads `<version>/meta-data/{instance-id,local-hostname,public-keys,
vendor-data}` and `<version>/user-data`, and its webhook reporter posts its events to
`status/<system_id>`, every request signed with OAuth 1.0 PLAINTEXT: consumer key = the
system_id, token key and secret = the deployed-OS credential the deploy issued (valid until
release). Any other credential, a released one or none is a 401.
"""
import json

from django.http import HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers

from maasapi.auth import oauth_parameters, plaintext_secret
from maasapi.errors import (
    TEXT,
    BadRequest,
    MaasApiError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)
from maasproject.api.fields import NameField, TextField
from nodes.models import Machine
from nodes.selectors import machine_public_keys
from nodes.services.cloudinit import cloudinit_report
from nodes.services.tokens import TokenInvalid, os_token_authenticate

VERSIONS = ("2012-03-01", "latest")
META_DATA = ("instance-id", "local-hostname", "public-keys")
REPORT_MAX = 64 * 1024


class EventSerializer(serializers.Serializer):
    """One event of cloud-init's webhook reporter."""

    event_type = serializers.ChoiceField(choices=["start", "finish"])
    name = NameField(max_length=256)
    description = TextField(required=False, default="", allow_blank=True, max_length=4000)
    result = serializers.ChoiceField(choices=["SUCCESS", "WARN", "FAIL"], required=False,
                                     default="")
    origin = NameField(required=False, default="cloudinit", max_length=64)


def signed_machine(request) -> Machine:
    """The machine whose deployed-OS credential signed the request; Unauthorized else."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, rest = header.partition(" ")
    params = oauth_parameters(rest) if scheme == "OAuth" else {}
    secret = plaintext_secret(params)
    if params.get("oauth_signature_method") != "PLAINTEXT" or not secret:
        raise Unauthorized("Authorization Error: OAuth PLAINTEXT credentials required.")
    try:
        token = os_token_authenticate(params.get("oauth_consumer_key", ""),
                                      params.get("oauth_token", ""), secret)
    except TokenInvalid as exc:
        raise Unauthorized(f"Authorization Error: {exc}") from exc
    return token.machine


def answers(view):
    """A view answering MaasApiError as its status and text, CSRF-exempt (machines post)."""
    @csrf_exempt
    def wrapped(request, *args, **kwargs) -> HttpResponse:
        try:
            if request.method not in view.methods:
                raise MethodNotAllowed(f"Method {request.method} is not allowed here.")
            return view(request, *args, **kwargs)
        except MaasApiError as exc:
            return exc.response()
    return wrapped


def text(body: str | bytes) -> HttpResponse:
    return HttpResponse(body, content_type=TEXT if isinstance(body, str) else
                        "application/octet-stream")


def _version(version: str) -> None:
    if version not in VERSIONS:
        raise NotFound(f"Unknown metadata version {version}.")


def versions(request) -> HttpResponse:
    return text("".join(f"{version}\n" for version in VERSIONS))


def version_index(request, version: str) -> HttpResponse:
    _version(version)
    signed_machine(request)
    return text("meta-data\nuser-data\n")


def meta_data(request, version: str, item: str = "") -> HttpResponse:
    """The meta-data listing, or one item of it."""
    _version(version)
    machine = signed_machine(request)
    if not item:
        return text("".join(f"{name}\n" for name in META_DATA))
    if item == "instance-id":
        return text(machine.system_id)
    if item == "local-hostname":
        return text(machine.hostname)
    if item == "public-keys":
        return text("".join(f"{key}\n" for key in machine_public_keys(machine)))
    raise NotFound(f"No meta-data item {item}.")


def user_data(request, version: str) -> HttpResponse:
    """The deploy's user data, as the owner gave it (404 when there is none)."""
    _version(version)
    machine = signed_machine(request)
    if not machine.user_data:
        raise NotFound("No user data.")
    return text(machine.user_data.encode())


def status(request, system_id: str) -> HttpResponse:
    """One cloud-init event (JSON) for the machine the credential is for."""
    machine = signed_machine(request)
    if machine.system_id != system_id:
        raise Unauthorized("Authorization Error: these credentials are another machine's.")
    if len(request.body) > REPORT_MAX:
        raise BadRequest(f"A report is at most {REPORT_MAX} bytes.")
    try:
        body = json.loads(request.body or b"null")
    except ValueError as exc:
        raise BadRequest(f"The report is not JSON: {exc}") from exc
    event = EventSerializer(data=body if isinstance(body, dict) else {})
    if not event.is_valid():
        raise BadRequest(json.dumps(event.errors))
    fields = {k: v for k, v in event.validated_data.items() if k != "origin"}
    cloudinit_report(machine, **fields)
    return text("OK")


for view, methods in ((versions, ("GET",)), (version_index, ("GET",)), (meta_data, ("GET",)),
                      (user_data, ("GET",)), (status, ("POST",))):
    view.methods = methods

# cloud-init strips one trailing slash off its metadata URL; a configured "//" still works.
urlpatterns = [
    re_path(r"^MAAS/metadata/?$", answers(versions)),
    re_path(r"^MAAS/metadata/+(?P<version>[^/]+)/?$", answers(version_index)),
    re_path(r"^MAAS/metadata/+(?P<version>[^/]+)/meta-data/?$", answers(meta_data)),
    re_path(r"^MAAS/metadata/+(?P<version>[^/]+)/meta-data/(?P<item>[\w-]+)/?$",
            answers(meta_data)),
    re_path(r"^MAAS/metadata/+(?P<version>[^/]+)/user-data/?$", answers(user_data)),
    re_path(r"^MAAS/metadata/+status/(?P<system_id>[\w-]+)/?$", answers(status)),
]
