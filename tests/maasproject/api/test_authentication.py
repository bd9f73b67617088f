"""API key headers are parsed by the core; the key is checked by the API_KEY_AUTHENTICATOR."""
import pytest
from rest_framework.exceptions import AuthenticationFailed

from maasproject.api import authentication
from maasproject.api.authentication import parse_oauth_header, split_key


def test_oauth_plaintext_header_gives_the_key_parts():
    header = ('OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
              'oauth_consumer_key="C", oauth_token="T", oauth_signature="%26S"')
    assert parse_oauth_header(header) == ("C", "T", "S")


@pytest.mark.parametrize("header", [
    'OAuth oauth_signature_method="HMAC-SHA1", oauth_consumer_key="C", oauth_token="T"',
    'OAuth oauth_signature_method="PLAINTEXT", oauth_token="T", oauth_signature="&S"',
    'OAuth oauth_signature_method="PLAINTEXT", oauth_consumer_key="C", oauth_token="T", '
    'oauth_signature="S"',
])
def test_bad_oauth_headers_fail(header):
    with pytest.raises(AuthenticationFailed):
        parse_oauth_header(header)


def test_bearer_key_has_three_parts():
    assert split_key(" C:T:S ") == ("C", "T", "S")
    for bad in ("C:T", "C::S", "C:T:S:X"):
        with pytest.raises(AuthenticationFailed):
            split_key(bad)


def test_the_key_check_is_the_setting(settings, monkeypatch):
    calls = []
    monkeypatch.setattr(authentication, "_key_authenticator",
                        lambda: lambda *parts: calls.append(parts) or ("user", "key"))
    assert authentication.authenticate_key("C", "T", "S") == ("user", "key")
    assert calls == [("C", "T", "S")]
    monkeypatch.setattr(authentication, "_key_authenticator", lambda: lambda *parts: None)
    with pytest.raises(AuthenticationFailed, match="Invalid API key"):
        authentication.authenticate_key("C", "T", "S")
    assert settings.API_KEY_AUTHENTICATOR == "nodes.services.accounts.apikey_authenticate"
