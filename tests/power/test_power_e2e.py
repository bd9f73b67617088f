"""End to end with real processes: region web (live server), region worker, a rack worker on
`rack.<name>` and a virtual IPMI BMC; the broker is Redis when CI=true.
"""
import json
import urllib.request

import pytest

from nodes.models import Event, Machine
from power.drivers.ipmi import IPMIDriver
from tests.factories import AdminFactory, RackControllerFactory, make_api_key
from tests.power.broker_capture import BrokerCapture
from tests.processes import free_udp_port, region_worker_args, start, stop, wait_until
from zones.rackkeys import rack_power_key

RACK = "e2e-rack"
TIMEOUT = 90


@pytest.fixture
def stack(tmp_path):
    """Start a virtual BMC, a region worker and a rack worker (rack env overridable)."""
    procs, logs = [], {}

    def start_stack(**rack_env: str) -> int:
        port = free_udp_port()
        logs.update({name: tmp_path / f"{name}.log" for name in ("vbmc", "region", "rack")})
        rack = RackControllerFactory(name=RACK, status="running")
        # What rackd keeps after registering: the worker opens sealed parameters with this key.
        credentials = tmp_path / "credentials.json"
        credentials.write_text(json.dumps(
            {"power_key": rack_power_key(rack.system_id, rack.token_hash)}))
        rack_env.setdefault("RACK_CREDENTIALS", str(credentials))
        procs.extend([
            start(["-m", "lab.vbmc", "--port", str(port), "--user", "admin", "--password",
                   "e2e-pass"], logs["vbmc"]),
            start(region_worker_args("e2e-region"), logs["region"]),
            start(["-m", "rack_worker", "--name", RACK, "--concurrency", "2"], logs["rack"],
                  **rack_env),
        ])
        return port

    start_stack.logs = logs
    try:
        yield start_stack
    finally:
        for proc in procs:
            stop(proc)


def api(server, key, method, path, body=None):
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def logs_text(logs) -> str:
    return "\n".join(f"--- {name}\n{path.read_text()[-3000:]}" for name, path in logs.items())


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_power_on_through_rack_reaches_the_bmc_and_is_recorded(live_server, stack):
    port, logs = stack(), stack.logs
    key = make_api_key(AdminFactory())
    params = {"power_address": "127.0.0.1", "power_port": port, "power_user": "admin",
              "power_pass": "e2e-pass"}
    machine = api(live_server, key, "POST", "machines/",
                  {"hostname": "e2e-node", "power_type": "ipmi", "power_parameters": params})
    system_id = machine["system_id"]

    with BrokerCapture() as broker:
        api(live_server, key, "POST", f"machines/{system_id}/power-on/", {})
        wait_until(lambda: Machine.objects.get(system_id=system_id).power_state == "on",
                   TIMEOUT, lambda: logs_text(logs))
    assert "sealed_params" in broker.text, broker.text[-2000:]  # the request was seen, sealed
    assert "e2e-pass" not in broker.text
    assert Event.objects.filter(machine__system_id=system_id, type="power_on").exists()
    assert IPMIDriver(params).power_query() == "on"

    api(live_server, key, "POST", f"machines/{system_id}/power-off/", {"stop_mode": "hard"})
    wait_until(lambda: Machine.objects.get(system_id=system_id).power_state == "off",
               TIMEOUT, lambda: logs_text(logs))
    assert IPMIDriver(params).power_query() == "off"
    for text in logs_text(logs), str(list(Event.objects.values_list("description", flat=True))):
        assert "e2e-pass" not in text


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_wrong_password_ends_in_power_error_without_retries(live_server, stack):
    port, logs = stack(), stack.logs
    key = make_api_key(AdminFactory())
    params = {"power_address": "127.0.0.1", "power_port": port, "power_user": "admin",
              "power_pass": "not-the-password"}
    machine = api(live_server, key, "POST", "machines/",
                  {"hostname": "e2e-bad", "power_type": "ipmi", "power_parameters": params})
    api(live_server, key, "POST", f"machines/{machine['system_id']}/query-power-state/", {})
    wait_until(lambda: Machine.objects.get(system_id=machine["system_id"]).power_state == "error",
               TIMEOUT, lambda: logs_text(logs))
    event = Event.objects.get(machine__system_id=machine["system_id"], type="power_error")
    assert "PowerAuthError" in event.description
    assert "retry" not in logs["rack"].read_text().lower()


def create_and_query(server, key, hostname, power_type, params) -> str:
    machine = api(server, key, "POST", "machines/",
                  {"hostname": hostname, "power_type": power_type, "power_parameters": params})
    api(server, key, "POST", f"machines/{machine['system_id']}/query-power-state/", {})
    return machine["system_id"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_unreachable_bmc_is_retried_then_ends_in_error(live_server, stack):
    stack(POWER_TASK_MAX_RETRIES="2", POWER_TASK_RETRY_BACKOFF="0.2")
    key = make_api_key(AdminFactory())
    dead_port = free_udp_port()  # nothing listens there
    system_id = create_and_query(live_server, key, "e2e-dead", "ipmi", {
        "power_address": "127.0.0.1", "power_port": dead_port, "power_user": "admin",
        "power_pass": "e2e-pass"})
    wait_until(lambda: Machine.objects.get(system_id=system_id).power_state == "error",
               TIMEOUT, lambda: logs_text(stack.logs))
    assert stack.logs["rack"].read_text().count("retry in") == 2
    event = Event.objects.get(machine__system_id=system_id, type="power_error")
    assert "PowerTimeoutError" in event.description or "PowerConnectionError" in event.description


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_bmc_slower_than_the_soft_time_limit_fails_the_request(live_server, stack):
    stack(POWER_TASK_SOFT_LIMIT="1")
    key = make_api_key(AdminFactory())
    system_id = create_and_query(live_server, key, "e2e-slow", "fake",
                                 {"fake_id": "slow", "delay": 5000})
    wait_until(lambda: Machine.objects.get(system_id=system_id).power_state == "error",
               TIMEOUT, lambda: logs_text(stack.logs))
    event = Event.objects.get(machine__system_id=system_id, type="power_error")
    assert "within 1s" in event.description
