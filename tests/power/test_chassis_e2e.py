"""Adding a Redfish chassis end to end: a region worker and a rack worker on the broker (Redis
when CI=true), sushy-tools with 4 systems; power then goes through the same rack worker."""
import json

import pytest

from nodes.models import Event, Machine
from nodes.services.actions import machine_query_power_state
from power.services.chassis import chassis_add
from tests.factories import AdminFactory, RackControllerFactory
from tests.power.chassis_support import PASSWORD, USER, sushy
from tests.power.test_redfish_driver import free_port
from tests.processes import region_worker_args, start, stop, wait_until
from zones.rackkeys import rack_power_key

RACK = "chassis-e2e-rack"
TIMEOUT = 90
# Until nodes.tasks imports nodes.chassis_tasks, the region worker is told to load it.
REGION_WORKER = region_worker_args("chassis-e2e-region")


@pytest.fixture
def stack(tmp_path):
    """Start a region worker and a rack worker (rack env overridable); yield their logs."""
    procs, logs = [], {name: tmp_path / f"{name}.log" for name in ("region", "rack")}

    def start_stack(**rack_env: str) -> dict:
        rack = RackControllerFactory(name=RACK, status="running")
        credentials = tmp_path / "credentials.json"
        credentials.write_text(json.dumps(
            {"power_key": rack_power_key(rack.system_id, rack.token_hash)}))
        procs.extend([
            start(REGION_WORKER, logs["region"]),
            start(["-m", "rack_worker", "--name", RACK, "--concurrency", "2"], logs["rack"],
                  RACK_CREDENTIALS=str(credentials), **rack_env),
        ])
        return logs

    try:
        yield start_stack
    finally:
        for proc in procs:
            stop(proc)


def logs_text(logs) -> str:
    return "\n".join(f"--- {name}\n{path.read_text()[-3000:]}" for name, path in logs.items())


def events(kind: str) -> list[Event]:
    return list(Event.objects.filter(type=kind).order_by("id"))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_adding_a_chassis_enlists_four_machines_whose_power_works(stack):
    logs, admin = stack(), AdminFactory()
    with sushy(4) as emulator:
        assert chassis_add(admin, "redfish", emulator.url, USER, PASSWORD).rack == RACK
        wait_until(lambda: len(events("chassis_discovered")) == 1, TIMEOUT,
                   lambda: logs_text(logs))
        machines = list(Machine.objects.order_by("hostname"))
        assert [m.hostname for m in machines] == ["node1", "node2", "node3", "node4"]
        assert len({m.bmc_id for m in machines}) == 1
        for machine in machines:
            machine_query_power_state(machine.system_id, admin)
        wait_until(lambda: set(Machine.objects.values_list("power_state", flat=True)) == {"off"},
                   TIMEOUT, lambda: logs_text(logs))

        chassis_add(admin, "redfish", emulator.url, USER, PASSWORD)
        wait_until(lambda: len(events("chassis_discovered")) == 2, TIMEOUT,
                   lambda: logs_text(logs))
        assert Machine.objects.count() == 4
        assert "4 already known, 0 added" in events("chassis_discovered")[-1].description
    for text in logs_text(logs), str([e.description for e in Event.objects.all()]):
        assert PASSWORD not in text


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_unreachable_is_retried_and_refused_credentials_are_not(stack):
    logs, admin = stack(POWER_TASK_MAX_RETRIES="2", POWER_TASK_RETRY_BACKOFF="0.2"), AdminFactory()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    chassis_add(admin, "redfish", dead, USER, PASSWORD)
    wait_until(lambda: len(events("chassis_discovery_failed")) == 1, TIMEOUT,
               lambda: logs_text(logs))
    assert logs["rack"].read_text().count("retry in") == 2
    failed = events("chassis_discovery_failed")[0].description
    assert dead in failed and "could not be reached" in failed

    with sushy(4) as emulator:
        chassis_add(admin, "redfish", emulator.url, USER, "Not-the-pw1")
        wait_until(lambda: len(events("chassis_discovery_failed")) == 2, TIMEOUT,
                   lambda: logs_text(logs))
        assert [r["method"] for r in emulator.requests()].count("POST") == 1  # one attempt
    assert logs["rack"].read_text().count("retry in") == 2  # none more
    refused = events("chassis_discovery_failed")[1].description
    assert emulator.url in refused and "refused the credentials" in refused
    assert Machine.objects.count() == 0
