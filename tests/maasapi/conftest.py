"""Fixtures of the MAAS API 2.0 tests: clients that sign as libmaas and gomaasapi do."""
import pytest
from django.test import Client

from tests.factories import AdminFactory, UserFactory, make_api_key
from tests.maasapi.sim_stack import sim_stack  # noqa: F401 - a fixture of these tests
from tests.nodes.bootimport_fakes import fake_build  # noqa: F401 - a fixture of these tests

API = "/MAAS/api/2.0/"


def oauth_header(key: str, style: str = "libmaas") -> str:
    """The Authorization header of a MAAS client: libmaas (quoted, realm) or gomaasapi
    (realm MAAS+API, unquoted percent-encoded values, other order)."""
    consumer, token, secret = key.split(":")
    if style == "gomaasapi":
        return ("OAuth oauth_signature=%26" + secret + ", oauth_token=" + token +
                ', realm="MAAS+API", oauth_consumer_key=' + consumer +
                ", oauth_signature_method=PLAINTEXT, oauth_nonce=abc, oauth_timestamp=1")
    return (f'OAuth realm="OAuth", oauth_nonce="n", oauth_timestamp="1795549027", '
            f'oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
            f'oauth_consumer_key="{consumer}", oauth_token="{token}", '
            f'oauth_signature="%26{secret}"')


class MaasClient(Client):
    """A Django test client that signs every request with a MAAS API key."""

    def __init__(self, key: str, style: str = "libmaas") -> None:
        super().__init__(HTTP_AUTHORIZATION=oauth_header(key, style))


def _signed_as(user) -> MaasClient:
    client = MaasClient(make_api_key(user))
    client.user = user
    return client


@pytest.fixture
def maas_admin(db):
    """A MAAS API client signed with an administrator's key."""
    return _signed_as(AdminFactory())


@pytest.fixture
def maas_user(db):
    """A MAAS API client signed with a non-admin user's key."""
    return _signed_as(UserFactory())
