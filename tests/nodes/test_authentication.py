"""API key authentication: MAAS's OAuth PLAINTEXT header, Bearer header, sessions."""
import time
import uuid

import pytest
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from nodes.models import ApiKey
from nodes.services.accounts import apikey_create
from tests.factories import UserFactory, make_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/whoami/"


def oauth_header(key: str, signature: str | None = None, method: str = "PLAINTEXT") -> str:
    """The Authorization header python-libmaas sends for a consumer:token:secret key."""
    consumer, token, secret = key.split(":")
    return (
        f'OAuth oauth_nonce="{uuid.uuid4().hex}", oauth_timestamp="{int(time.time())}", '
        f'oauth_version="1.0", oauth_signature_method="{method}", '
        f'oauth_consumer_key="{consumer}", oauth_token="{token}", '
        f'oauth_signature="{signature if signature is not None else "&" + secret}"'
    )


def get(header: str | None):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client.get(URL)


def with_secret(key: str, secret: str) -> str:
    consumer, token, _ = key.split(":")
    return f"{consumer}:{token}:{secret}"


@pytest.fixture
def key(user) -> str:
    return make_api_key(user)


def test_bearer_good_key(user, key):
    response = get(f"Bearer {key}")
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_oauth_good_key(user, key):
    response = get(oauth_header(key))
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_oauth_percent_encoded_signature(user, key):
    secret = key.split(":")[2]
    response = get(oauth_header(key, signature=f"%26{secret}"))
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_key_made_by_service_works(user):
    _, full = apikey_create(user, "laptop")
    assert get(f"Bearer {full}").status_code == 200
    assert get(oauth_header(full)).status_code == 200


@pytest.mark.parametrize("form", ["bearer", "oauth"])
def test_wrong_secret(key, form):
    bad = with_secret(key, "not-the-secret")
    header = f"Bearer {bad}" if form == "bearer" else oauth_header(bad)
    assert get(header).status_code == 401


@pytest.mark.parametrize("form", ["bearer", "oauth"])
def test_unknown_token(key, form):
    consumer, _, secret = key.split(":")
    bad = f"{consumer}:unknown-token:{secret}"
    header = f"Bearer {bad}" if form == "bearer" else oauth_header(bad)
    assert get(header).status_code == 401


@pytest.mark.parametrize("form", ["bearer", "oauth"])
def test_wrong_consumer(key, form):
    _, token, secret = key.split(":")
    bad = f"other-consumer:{token}:{secret}"
    header = f"Bearer {bad}" if form == "bearer" else oauth_header(bad)
    assert get(header).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ",
        "Bearer onlyonepart",
        "Bearer a:b",
        "Bearer a:b:c:d",
        "Bearer ::",
        "OAuth ",
        'OAuth oauth_signature_method="PLAINTEXT"',
        'OAuth oauth_signature_method="PLAINTEXT", oauth_consumer_key="a", oauth_token="b", '
        'oauth_signature="no-ampersand"',
    ],
)
def test_malformed_key(key, header):
    assert get(header).status_code == 401


def test_oauth_without_signature(key):
    header = oauth_header(key).rsplit(", oauth_signature=", 1)[0]
    assert get(header).status_code == 401


def test_oauth_wrong_signature_method(key):
    assert get(oauth_header(key, method="HMAC-SHA1")).status_code == 401


def test_missing_header():
    response = get(None)
    assert response.status_code == 401
    assert response.has_header("WWW-Authenticate")


def test_unknown_scheme(key):
    assert get(f"Basic {key}").status_code == 401


@pytest.mark.parametrize("form", ["bearer", "oauth"])
def test_inactive_users_key_refused(user, key, form):
    user.is_active = False
    user.save()
    header = f"Bearer {key}" if form == "bearer" else oauth_header(key)
    assert get(header).status_code == 401


def test_revoked_key_refused(user, key):
    ApiKey.objects.filter(user=user).delete()
    assert get(f"Bearer {key}").status_code == 401


def test_session_login_works_for_the_api(user):
    client = APIClient()
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_last_used_recorded(user, key):
    assert ApiKey.objects.get(user=user).last_used is None
    get(f"Bearer {key}")
    assert ApiKey.objects.get(user=user).last_used is not None


def test_only_a_hash_is_stored():
    user = UserFactory()
    key, full = apikey_create(user, "ci")
    secret = full.split(":")[2]
    row = model_to_dict(ApiKey.objects.get(pk=key.pk))
    assert all(secret not in str(value) for value in row.values())
    assert key.secret_hash != secret
    assert key.check_secret(secret)
    assert not key.check_secret(secret + "x")


def test_oauth_header_as_python_libmaas_0_6_8_sends_it(user, key):
    """Verified once against python-libmaas 0.6.8's own signer (oauthlib, realm="OAuth")."""
    secret = key.split(":")[2]
    header = oauth_header(key, signature=f"%26{secret}").replace(
        "OAuth ", 'OAuth realm="OAuth", ', 1
    )
    assert get(header).status_code == 200
