"""cloud-init's reports: what is recorded, and how they end a deployment (only that)."""
import pytest

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event
from nodes.services.cloudinit import cloudinit_report
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db


def recorded(machine) -> list[tuple[str, str]]:
    return list(Event.objects.filter(machine=machine, type="cloudinit").order_by("pk")
                .values_list("level", "description"))


def test_stages_and_modules_that_did_not_succeed_are_recorded():
    machine = MachineFactory(status=NodeStatus.DEPLOYING)
    cloudinit_report(machine, event_type="start", name="init-network", description="init")
    cloudinit_report(machine, event_type="finish", name="init-network/config-ssh",
                     description="ssh", result="SUCCESS")
    cloudinit_report(machine, event_type="finish", name="modules-config/config-apt",
                     description="apt", result="WARN")
    assert recorded(machine) == [
        (EventLevel.INFO, "cloud-init start init-network: init"),
        (EventLevel.WARNING, "cloud-init finish modules-config/config-apt WARN: apt")]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DEPLOYING


@pytest.mark.parametrize("status", [NodeStatus.DEPLOYED, NodeStatus.READY,
                                    NodeStatus.FAILED_DEPLOYMENT])
def test_reports_outside_a_deployment_are_only_recorded(status):
    """A deployed OS rebooting later runs cloud-init again: its reports change nothing."""
    machine = MachineFactory(status=status)
    cloudinit_report(machine, event_type="finish", name="modules-final", result="FAIL",
                     description="final")
    cloudinit_report(machine, event_type="finish", name="modules-final", result="SUCCESS")
    machine.refresh_from_db()
    assert machine.status == status
    assert len(recorded(machine)) == 2
