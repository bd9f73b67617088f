"""machine_finish_and_power_off: end the job and send the power off in the caller's transaction."""
import pytest
from django.db import transaction

from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from nodes.services.power import machine_finish_and_power_off
from nodes.services.tokens import token_active, token_issue
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db


def _commissioning() -> Machine:
    machine = MachineFactory(status=NodeStatus.COMMISSIONING, previous_status=NodeStatus.NEW)
    token_issue(machine, "commissioning")
    return machine


@pytest.mark.parametrize(("success", "status", "description"), [
    (False, NodeStatus.FAILED_COMMISSIONING, "disk on fire"),
    (True, NodeStatus.READY, ""),
])
def test_finishes_the_job_and_powers_off_in_the_transaction(
        success, status, description, power_requests):
    machine = _commissioning()
    with transaction.atomic():
        returned = machine_finish_and_power_off(machine.system_id, success=success,
                                                reason="disk on fire")
        assert power_requests == [(machine.system_id, "off")]  # sent before the commit
    assert (returned.status, returned.error_description) == (status, description)
    assert Machine.objects.get(pk=machine.pk).status == status
    assert token_active(machine) is None
    assert Event.objects.filter(machine=machine, type__startswith="status_").count() == 1


def test_a_power_off_the_broker_refuses_rolls_the_finish_back(monkeypatch):
    from kombu.exceptions import OperationalError

    def refused(system_id, action, **_options):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr("nodes.services.power.dispatch_power", refused)
    machine = _commissioning()
    with pytest.raises(OperationalError), transaction.atomic():
        machine_finish_and_power_off(machine.system_id, success=False, reason="x")
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.COMMISSIONING
    assert token_active(machine) is not None
    assert not Event.objects.filter(machine=machine, type__startswith="status_").exists()
