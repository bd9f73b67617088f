"""bench/fake_runner.py plays the runner of 3 machines over the real metadata API."""
import json

import pytest

from bench import fake_runner
from nodes.choices import NodeStatus
from nodes.models import Machine, ScriptResult
from nodes.services.actions import machine_commission
from nodes.services.tokens import token_active
from tests.factories import InterfaceFactory, MachineFactory, ScriptFactory
from tests.zones.rack_helpers import register


@pytest.fixture(autouse=True)
def shared_address(settings):
    """Simulated machines all call from 127.0.0.1, which no rack leased to any of them."""
    settings.METADATA_TOKEN_SOURCES = "any"


@pytest.mark.django_db(transaction=True)
def test_fake_runner_commissions_three_machines(live_server, tmp_path, capsys):
    ScriptFactory(name="bench-test", script_type="testing")
    macs = []
    for index in range(3):
        machine = MachineFactory(status=NodeStatus.NEW)
        macs.append(InterfaceFactory(machine=machine).mac_address)
        machine_commission(machine.system_id, None,
                           testing_scripts=["bench-test"] if index == 0 else None)
    rack, token = register("bench-rack")
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"system_id": rack.system_id, "token": token}))
    (tmp_path / "macs").write_text("\n".join(macs))

    code = fake_runner.main(["--region", live_server.url, "--rack-credentials",
                             str(credentials), "--macs-file", str(tmp_path / "macs"),
                             "--concurrency", "3"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, summary
    assert (summary["machines"], summary["jobs"], summary["failures"]) == (3, 4, [])
    for machine in Machine.objects.all():
        assert machine.status == NodeStatus.READY, machine.error_description
        assert token_active(machine) is None
    assert not ScriptResult.objects.exclude(status="passed").exists()
    # The built-in CPU script's fake output went into the inventory.
    assert set(Machine.objects.values_list("cpu_count", flat=True)) == {8}


@pytest.mark.django_db(transaction=True)
def test_fake_runner_reports_a_failing_script(live_server):
    machine = MachineFactory(status=NodeStatus.NEW)
    machine_commission(machine.system_id, None)
    key = token_active(machine).key
    summary = fake_runner.run_all(live_server.url, [(machine.system_id, key)], fail={"10-cpu"})
    assert summary["failures"] == [] and summary["results"][0]["poweroff"] is True
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_COMMISSIONING
    assert machine.error_description == "commissioning script 10-cpu failed (exit 1)"
