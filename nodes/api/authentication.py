"""API key authentication (MAAS's OAuth PLAINTEXT header, Bearer) and machine tokens."""
import re
from datetime import timedelta
from urllib.parse import unquote

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from nodes.models import ApiKey
from nodes.services.tokens import TokenInvalid, token_authenticate

_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def authenticate_key(consumer_key: str, token_key: str, secret: str):
    """Return (user, api_key) for valid key parts, else raise AuthenticationFailed."""
    key = ApiKey.objects.select_related("user").filter(token_key=token_key).first()
    if (
        key is None
        or key.consumer_key != consumer_key
        or not key.check_secret(secret)
        or not key.user.is_active
    ):
        raise exceptions.AuthenticationFailed("Invalid API key.")
    now = timezone.now()
    if key.last_used is None or now - key.last_used > _LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used=now)
    return key.user, key


def split_key(value: str) -> tuple[str, str, str]:
    parts = value.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise exceptions.AuthenticationFailed("An API key has the form consumer:token:secret.")
    return parts[0], parts[1], parts[2]


class ApiKeyOAuthAuthentication(authentication.BaseAuthentication):
    """`Authorization: OAuth ... oauth_signature_method="PLAINTEXT"`, as MAAS clients send."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("OAuth "):
            return None
        params = {k: unquote(v) for k, v in _OAUTH_PARAM.findall(header)}
        if params.get("oauth_signature_method") != "PLAINTEXT":
            raise exceptions.AuthenticationFailed(
                "Only the PLAINTEXT OAuth signature is supported."
            )
        consumer, token = params.get("oauth_consumer_key"), params.get("oauth_token")
        signature = params.get("oauth_signature", "")
        if not consumer or not token or "&" not in signature:
            raise exceptions.AuthenticationFailed("Incomplete OAuth credentials.")
        return authenticate_key(consumer, token, signature.split("&", 1)[1])

    def authenticate_header(self, request) -> str:
        return 'OAuth realm="api"'


class ApiKeyBearerAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer consumer:token:secret`."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return None
        return authenticate_key(*split_key(header[len("Bearer "):]))

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class MachineTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Machine <system_id>:<token>`, from a machine's ephemeral environment.

    No header: anonymous (the view decides). A malformed, unknown or revoked token: 401.
    request.user stays anonymous; request.auth is the MachineToken (with its machine).
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        system_id, sep, key = credentials.strip().partition(":")
        if scheme != "Machine" or not sep:
            raise exceptions.AuthenticationFailed(
                "Use Authorization: Machine <system_id>:<token>.")
        try:
            token = token_authenticate(system_id, key)
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return AnonymousUser(), token

    def authenticate_header(self, request) -> str:
        return 'Machine realm="metadata"'


class ApiKeyOAuthScheme(OpenApiAuthenticationExtension):
    """Describe the OAuth PLAINTEXT header in the OpenAPI schema."""

    target_class = ApiKeyOAuthAuthentication
    name = "maasOAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": 'OAuth oauth_signature_method="PLAINTEXT", oauth_consumer_key='
                               '"C", oauth_token="T", oauth_signature="&S"'}


class ApiKeyBearerScheme(OpenApiAuthenticationExtension):
    """Describe the Bearer API key header in the OpenAPI schema."""

    target_class = ApiKeyBearerAuthentication
    name = "apiKeyBearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "consumer:token:secret"}
