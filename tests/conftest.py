"""Shared fixtures: users, API clients authenticated by API key."""
import pytest
from rest_framework.test import APIClient

from tests.factories import AdminFactory, UserFactory, make_api_key


@pytest.fixture
def admin(db):
    return AdminFactory()


@pytest.fixture
def user(db):
    return UserFactory()


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(user)}")
    client.user = user
    return client


@pytest.fixture
def admin_client(admin) -> APIClient:
    """An API client authenticated as an admin with a Bearer API key."""
    return _client_for(admin)


@pytest.fixture
def user_client(user) -> APIClient:
    """An API client authenticated as a non-admin user with a Bearer API key."""
    return _client_for(user)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()
