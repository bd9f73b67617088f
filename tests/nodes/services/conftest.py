"""Fixtures of the nodes service tests."""
import pytest


@pytest.fixture
def sent(monkeypatch):
    """Capture messages handed to the broker by rack_worker.client (use a transactional db)."""
    messages = []

    def send_task(name, args=None, kwargs=None, queue=None, **options):
        messages.append({"name": name, "args": args, "queue": queue, **options})

    monkeypatch.setattr("rack_worker.client.current_app.send_task", send_task)
    return messages
