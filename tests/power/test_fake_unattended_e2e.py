"""End to end: commissioning a `fake` machine that no simulator runs says so on its timeline.

Real processes: the region web (live server), a region worker and a rack worker whose fake
BMCs live in a state directory that no simulator watches.
"""
import json
import urllib.request

import pytest

from nodes.models import Machine
from tests.factories import AdminFactory, RackControllerFactory, make_api_key
from tests.processes import region_worker_args, start, stop, wait_until
from zones.rackkeys import rack_power_key

RACK = "unattended-rack"
TIMEOUT = 120


def api(server, key, method, path, body=None):
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_commissioning_a_fake_machine_without_simulator_warns_on_its_timeline(
        live_server, tmp_path):
    rack = RackControllerFactory(name=RACK, status="running")
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps(
        {"power_key": rack_power_key(rack.system_id, rack.token_hash)}))
    logs = {name: tmp_path / f"{name}.log" for name in ("region", "rack")}
    procs = [start(region_worker_args("unattended-region"), logs["region"]),
             start(["-m", "rack_worker", "--name", RACK, "--concurrency", "1"], logs["rack"],
                   RACK_CREDENTIALS=str(credentials),
                   FAKE_POWER_STATE_DIR=str(tmp_path / "fake-power"))]
    key = make_api_key(AdminFactory())
    try:
        machine = api(live_server, key, "POST", "machines/", {
            "hostname": "lonely", "architecture": "amd64/generic",
            "mac_addresses": ["52:54:00:aa:00:01"], "power_type": "fake",
            "power_parameters": {"fake_id": "lonely"}})
        system_id = machine["system_id"]
        api(live_server, key, "POST", f"machines/{system_id}/commission/", {})

        def warning():
            events = api(live_server, key, "GET", f"events/?machine={system_id}")
            events = events["results"] if isinstance(events, dict) else events
            return [e for e in events if e["type"] == "power_warning"]

        found = wait_until(warning, TIMEOUT, lambda: "\n".join(
            f"--- {name}\n{path.read_text()[-3000:]}" for name, path in logs.items()))
    finally:
        for proc in procs:
            stop(proc)
    assert len(found) == 1, found
    assert found[0]["level"] == "WARNING"
    assert found[0]["description"].startswith(
        f"Power on via {RACK}: no simulator is attached to this fake BMC")
    assert "the machine will not boot; run `make demo SIMULATED=1`" in found[0]["description"]
    assert Machine.objects.get(system_id=system_id).power_state == "on"
