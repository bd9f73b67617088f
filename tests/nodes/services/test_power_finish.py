"""machine_finish_and_power_off: end the job, then power off only once the caller commits."""
import pytest
from django.db import transaction

from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from nodes.services.power import machine_finish_and_power_off
from nodes.services.tokens import token_active, token_issue
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(monkeypatch) -> list[tuple[str, str]]:
    """Record power requests instead of sending them (the callback binds dispatch_power)."""
    calls = []
    monkeypatch.setattr("nodes.services.power.dispatch_power",
                        lambda system_id, action: calls.append((system_id, action)))
    return calls


def _commissioning() -> Machine:
    machine = MachineFactory(status=NodeStatus.COMMISSIONING, previous_status=NodeStatus.NEW)
    token_issue(machine, "commissioning")
    return machine


@pytest.mark.parametrize(("success", "status", "description"), [
    (False, NodeStatus.FAILED_COMMISSIONING, "disk on fire"),
    (True, NodeStatus.READY, ""),
])
def test_finishes_the_job_and_powers_off_after_commit(
        success, status, description, dispatched, django_capture_on_commit_callbacks):
    machine = _commissioning()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            returned = machine_finish_and_power_off(machine.system_id, success=success,
                                                    reason="disk on fire")
            assert dispatched == []  # nothing is sent inside the transaction
    assert (returned.status, returned.error_description) == (status, description)
    assert Machine.objects.get(pk=machine.pk).status == status
    assert token_active(machine) is None
    assert Event.objects.filter(machine=machine, type__startswith="status_").count() == 1
    assert len(callbacks) == 1
    callbacks[0]()
    assert dispatched == [(machine.system_id, "off")]


def test_a_rolled_back_caller_neither_finishes_nor_powers_off(
        dispatched, django_capture_on_commit_callbacks):
    machine = _commissioning()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            machine_finish_and_power_off(machine.system_id, success=False, reason="x")
            raise RuntimeError("the caller fails after the helper")
    assert callbacks == [] and dispatched == []
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.COMMISSIONING
    assert token_active(machine) is not None
