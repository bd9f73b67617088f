"""A region with a rack and a simulated machine, for tests that drive MAAS clients end to end.

Real processes: the region web (live server), a region worker, a rack worker whose fake BMCs
are watched by lab.sim's fleet (in a thread), which boots the machine through the metadata API
from an address the rack leased to it, as bench/fake_runner.py does.
"""
import json
import threading

import pytest

from lab.sim.fleet import Fleet
from tests.factories import SubnetFactory
from tests.processes import region_worker_args, start, stop, wait_until
from tests.zones.rack_helpers import register
from zones.rackkeys import rack_power_key

RACK, MAC, FAKE_ID = "libmaas-rack", "02:5a:00:00:01:01", "lm-01"
TIMEOUT = 120


@pytest.fixture
def sim_stack(live_server, tmp_path):
    """A rack (worker process), a region worker, the fleet simulating FAKE_ID; the API URL."""
    rack, token = register(RACK)
    rack.status = "running"
    rack.save()
    rack.subnets.add(SubnetFactory(cidr="127.0.0.0/8", allow_enlistment=True))
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps(
        {"power_key": rack_power_key(rack.system_id, rack.token_hash)}))
    power_dir = tmp_path / "fake-power"
    logs = {name: tmp_path / f"{name}.log" for name in ("region", "rack")}
    procs = [start(region_worker_args("libmaas-region"), logs["region"]),
             start(["-m", "rack_worker", "--name", RACK, "--concurrency", "2"], logs["rack"],
                   RACK_CREDENTIALS=str(credentials), FAKE_POWER_STATE_DIR=str(power_dir))]
    fleet = Fleet(live_server.url, {"system_id": rack.system_id, "token": token},
                  {FAKE_ID: MAC}, str(power_dir), addresses={FAKE_ID: "127.0.99.21"},
                  self_poweroff=True)
    fleet.attach()
    thread = threading.Thread(target=fleet.run, daemon=True)
    thread.start()
    try:
        yield live_server.url + "/MAAS/", logs
    finally:
        fleet.stopping.set()
        thread.join(30)
        for proc in procs:
            stop(proc)


def wait_status(machine, wanted: str, logs: dict) -> None:
    """Refresh the libmaas machine until its status name is `wanted`."""
    def reached() -> bool:
        machine.refresh()
        return machine.status_name == wanted

    wait_until(reached, TIMEOUT, lambda: f"status {machine.status_name}\n" + "\n".join(
        f"--- {name}\n{path.read_text()[-3000:]}" for name, path in logs.items()))


