"""The console's action runner: one refusal text per machine, for the page and the bulk form."""
import kombu.exceptions
import pytest

from nodes.choices import NodeStatus
from nodes.models import Machine
from nodes.views.actions import BROKER_DOWN, action_params, run_action
from tests.factories import AdminFactory, MachineFactory, RackControllerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    """The broker refuses every message (what kombu raises when Redis is unreachable)."""
    def refuse(*args, **kwargs):
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:9")

    monkeypatch.setattr("rack_worker.client.current_app.send_task", refuse)


def test_a_broker_outage_is_the_machines_outcome_and_nothing_is_saved(broker_down):
    RackControllerFactory(name="r1", status="running")
    machine = MachineFactory(status=NodeStatus.READY, power_type="fake")
    assert run_action("commission", machine.system_id, AdminFactory(),
                      action_params("commission", {})) == BROKER_DOWN
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY and not machine.events.exists()


def test_refusals_read_as_one_line():
    admin = AdminFactory()
    deployed = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin)
    assert run_action("commission", deployed.system_id, admin, {}).startswith(
        f"Cannot commission machine {deployed.system_id}: it is Deployed.")
    assert run_action("lock", "nosuch", admin, {}) == "This machine no longer exists."
    assert Machine.objects.get(pk=deployed.pk).status == NodeStatus.DEPLOYED
