"""Shared fixtures: users, API clients authenticated by API key, power requests recorded."""
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

# Every module that sends power requests, each bound to dispatch_power by import.
DISPATCHERS = ["nodes.services.power", "nodes.services.actions", "nodes.services.deadlines",
               "nodes.services.metadata", "nodes.services.bootretry"]


@pytest.fixture
def power_requests(monkeypatch) -> list[tuple[str, str]]:
    """Record power requests (system_id, action) instead of sending them.

    They are sent inside the transaction that decided them (nodes.services.power says why),
    so a test sees them as soon as the service returns.
    """
    calls = []

    def dispatch(system_id, action, **_options):
        calls.append((system_id, action))

    for module in DISPATCHERS:
        monkeypatch.setattr(f"{module}.dispatch_power", dispatch)
    return calls


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """Capture the messages rack_worker.client hands to the broker (power requests for racks).

    A live server runs in the test process, so the patch reaches its requests too; nothing
    waits in a broker for a rack worker no test runs.
    """
    messages = []

    def send_task(name, args=None, kwargs=None, queue=None, **options):
        messages.append({"name": name, "args": args, "queue": queue, **options})

    monkeypatch.setattr("rack_worker.client.current_app.send_task", send_task)
    return messages
