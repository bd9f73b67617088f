"""Fixtures of the nodes tests."""
import pytest

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
