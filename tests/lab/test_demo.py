"""lab.demo's clean-up over the real API: machines whose VMs are gone are aborted, with why."""
import pytest

from lab import demo
from lab.api import Api
from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from tests.factories import AdminFactory, InterfaceFactory, MachineFactory, make_api_key


@pytest.mark.django_db(transaction=True)
def test_machines_left_in_a_job_are_aborted_with_the_reason(live_server):
    api = Api(live_server.url, make_api_key(AdminFactory()))
    busy, idle = (MachineFactory(status=NodeStatus.NEW, power_type="manual") for _ in range(2))
    macs = [InterfaceFactory(machine=machine).mac_address for machine in (busy, idle)]
    api.post(f"machines/{busy.system_id}/commission/")
    assert Machine.objects.get(pk=busy.pk).status == NodeStatus.COMMISSIONING

    assert demo.abort_unfinished(api, macs, "make demo stopped") == [busy.system_id]
    assert Machine.objects.get(pk=busy.pk).status == NodeStatus.NEW
    assert "make demo stopped" in Event.objects.get(machine=busy, type="abort").description
    assert Machine.objects.get(pk=idle.pk).status == NodeStatus.NEW
    assert demo.abort_unfinished(api, macs, "again") == []  # nothing left to abort
