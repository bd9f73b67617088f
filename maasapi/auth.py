"""OAuth 1.0 PLAINTEXT as MAAS clients send it, checked against this region's API keys.

libmaas quotes every value and adds realm="OAuth"; its CLI drops the realm; gomaasapi sends
realm="MAAS+API", keys in random order and values percent-encoded. So parameters are read in any
order, quoted or not, and percent-decoded. The signature is "&" + the token secret (the consumer
secret is always empty).

Timestamps and nonces are not checked: with PLAINTEXT the secret itself is in every header, so a
replay window protects nothing that the secret does not already give away (MAAS's own PLAINTEXT
check is as lenient). Use HTTPS between clients and the region.
"""
import re
from urllib.parse import unquote

from rest_framework import exceptions

from maasapi.errors import Unauthorized
from maasproject.api.authentication import authenticate_key, split_key

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')


def oauth_parameters(header: str) -> dict[str, str]:
    """The parameters of an `OAuth ...` header, decoded."""
    return {name: unquote(quoted if quoted or plain == "" else plain)
            for name, quoted, plain in _PARAM.findall(header)}


def plaintext_secret(params: dict[str, str]) -> str:
    """The token secret of a PLAINTEXT signature ("&" + secret; the consumer secret is empty),
    "" when the signature has none."""
    signature = params.get("oauth_signature", "")
    return signature.split("&", 1)[1] if "&" in signature else ""


def request_user(request):
    """The user an API request authenticates as; Unauthorized (401) for a bad or missing key."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, rest = header.partition(" ")
    try:
        if scheme == "OAuth":
            params = oauth_parameters(rest)
            if params.get("oauth_signature_method") != "PLAINTEXT":
                raise Unauthorized("Authorization Error: only PLAINTEXT signatures are supported.")
            user, _key = authenticate_key(params.get("oauth_consumer_key", ""),
                                          params.get("oauth_token", ""), plaintext_secret(params))
            return user
        if scheme == "Bearer":
            return authenticate_key(*split_key(rest))[0]
    except exceptions.AuthenticationFailed:
        pass
    raise Unauthorized("Authorization Error: Invalid API key." if header else
                       "Authorization Error: no credentials (OAuth PLAINTEXT API key).")
