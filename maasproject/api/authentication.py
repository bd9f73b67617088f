"""API key authentication (MAAS's OAuth PLAINTEXT header, Bearer), shared by every API surface.

The headers are parsed here; the key itself is checked by the function the API_KEY_AUTHENTICATOR
setting names (consumer key, token key, secret -> (user, key) or None), so this package
imports no app.
"""
import re
from functools import cache
from urllib.parse import unquote

from django.conf import settings
from django.utils.module_loading import import_string
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


@cache
def _key_authenticator():
    return import_string(settings.API_KEY_AUTHENTICATOR)


def authenticate_key(consumer_key: str, token_key: str, secret: str):
    """Return (user, api_key) for valid key parts, else raise AuthenticationFailed."""
    found = _key_authenticator()(consumer_key, token_key, secret)
    if found is None:
        raise exceptions.AuthenticationFailed("Invalid API key.")
    return found


def split_key(value: str) -> tuple[str, str, str]:
    """consumer:token:secret -> its three parts (AuthenticationFailed for another shape)."""
    parts = value.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise exceptions.AuthenticationFailed("An API key has the form consumer:token:secret.")
    return parts[0], parts[1], parts[2]


def parse_oauth_header(header: str) -> tuple[str, str, str]:
    """The key parts of an `OAuth ...` PLAINTEXT header (AuthenticationFailed otherwise)."""
    params = {k: unquote(v) for k, v in _OAUTH_PARAM.findall(header)}
    if params.get("oauth_signature_method") != "PLAINTEXT":
        raise exceptions.AuthenticationFailed("Only the PLAINTEXT OAuth signature is supported.")
    consumer, token = params.get("oauth_consumer_key"), params.get("oauth_token")
    signature = params.get("oauth_signature", "")
    if not consumer or not token or "&" not in signature:
        raise exceptions.AuthenticationFailed("Incomplete OAuth credentials.")
    return consumer, token, signature.split("&", 1)[1]


class HeaderAuthentication(authentication.BaseAuthentication):
    """Base of the `Authorization: <keyword> <credentials>` schemes of every API surface."""

    keyword = ""
    realm = "api"

    def credentials(self, request) -> str | None:
        """What follows `<keyword> ` in the Authorization header, or None for another scheme."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        prefix = self.keyword + " "
        return header[len(prefix):].strip() if header.startswith(prefix) else None

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="{self.realm}"'


class HeaderScheme(OpenApiAuthenticationExtension):
    """Describe an Authorization header scheme in the OpenAPI schema (subclasses set target)."""

    description = ""

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": self.description}


class ApiKeyOAuthAuthentication(HeaderAuthentication):
    """`Authorization: OAuth ... oauth_signature_method="PLAINTEXT"`, as MAAS clients send."""

    keyword = "OAuth"

    def authenticate(self, request):
        credentials = self.credentials(request)
        return None if credentials is None else authenticate_key(*parse_oauth_header(credentials))


class ApiKeyBearerAuthentication(HeaderAuthentication):
    """`Authorization: Bearer consumer:token:secret`."""

    keyword = "Bearer"

    def authenticate(self, request):
        credentials = self.credentials(request)
        return None if credentials is None else authenticate_key(*split_key(credentials))


class ApiKeyOAuthScheme(HeaderScheme):
    """Describe the OAuth PLAINTEXT header in the OpenAPI schema."""

    target_class = ApiKeyOAuthAuthentication
    name = "maasOAuth"
    description = ('OAuth oauth_signature_method="PLAINTEXT", oauth_consumer_key="C", '
                   'oauth_token="T", oauth_signature="&S"')


class ApiKeyBearerScheme(OpenApiAuthenticationExtension):
    """Describe the Bearer API key header in the OpenAPI schema."""

    target_class = ApiKeyBearerAuthentication
    name = "apiKeyBearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "consumer:token:secret"}
