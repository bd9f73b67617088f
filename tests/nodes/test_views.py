"""The dashboard page: session login required, shows machines the user may see."""
import pytest

from nodes.choices import NodeStatus
from tests.factories import MachineFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_dashboard_lists_visible_machines_by_status(client, user):
    MachineFactory(hostname="free-one", status=NodeStatus.READY)
    MachineFactory(hostname="hidden-one", owner=UserFactory(), status=NodeStatus.DEPLOYED)
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "free-one" in html and "Ready" in html
    assert "hidden-one" not in html
