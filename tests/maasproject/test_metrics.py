"""Region /metrics: the families, counters that follow requests, transitions and power outcomes,
gauges read from the DB and the broker (up or down), and who may read it."""
import os
import time

import pytest
import redis
from django.conf import settings
from django.db.models import Count
from prometheus_client.parser import text_string_to_metric_families

from nodes.choices import NodeStatus
from nodes.metrics import TRANSITIONS, status_label
from nodes.models import Machine
from nodes.services.action_registry import ACTION_SERVICES
from nodes.services.power import power_failure_record, power_result_record
from tests.factories import MachineFactory, RackControllerFactory
from tests.processes import free_tcp_port

FAMILIES = {
    "maas_http_requests", "maas_http_request_duration_seconds", "maas_machine_transitions",
    "maas_machines", "maas_power_results", "maas_broker_up", "maas_queue_messages",
    "maas_queue_oldest_message_age_seconds", "maas_rack_image_sync_files",
    "maas_rack_image_sync_bytes",
}


def scrape(client, **extra) -> dict:
    """{family name: {(sample name, sorted labels): value}} of GET /metrics (200 asserted)."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {}
    for family in text_string_to_metric_families(response.content.decode()):
        families[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value
                                 for s in family.samples}
    return families


def value(families: dict, family: str, sample: str, **labels) -> float:
    return families.get(family, {}).get((sample, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_metrics_parse_and_hold_every_family(client, admin, django_capture_on_commit_callbacks):
    RackControllerFactory(name="sync-rack", image_sync={
        "files_done": 1, "files_total": 3, "bytes_done": 10, "bytes_total": 30, "state": "syncing"})
    machine = MachineFactory(status=NodeStatus.READY)
    with django_capture_on_commit_callbacks(execute=True):
        ACTION_SERVICES["mark-broken"].service(machine.system_id, admin)
        power_failure_record(system_id=machine.system_id, action="query", purpose="poll",
                             kind="PowerConnError", message="no route")
    client.get("/healthz")

    families = scrape(client)

    assert FAMILIES <= set(families), FAMILIES - set(families)
    assert value(families, "maas_rack_image_sync_files", "maas_rack_image_sync_files",
                 rack="sync-rack", kind="total") == 3
    assert value(families, "maas_rack_image_sync_bytes", "maas_rack_image_sync_bytes",
                 rack="sync-rack", kind="done") == 10


@pytest.mark.django_db
def test_a_request_counts_under_its_route_pattern_never_its_ids(client):
    before = scrape(client)
    client.get("/metrics")
    client.get("/api/v1/machines/xyz123abc/")  # unauthenticated: 401, counted all the same
    after = scrape(client)

    route = {"route": "metrics", "method": "GET", "status": "200"}
    assert (value(after, "maas_http_requests", "maas_http_requests_total", **route)
            - value(before, "maas_http_requests", "maas_http_requests_total", **route)) == 2
    assert value(after, "maas_http_request_duration_seconds",
                 "maas_http_request_duration_seconds_count", route="metrics", method="GET") >= 2
    routes = {dict(labels)["route"] for _, labels in after["maas_http_requests"]}
    assert not any("xyz123abc" in route for route in routes)
    assert any("machines" in route and "system_id" in route for route in routes), routes


@pytest.mark.django_db
def test_a_status_transition_counts(client, admin, django_capture_on_commit_callbacks):
    machine = MachineFactory(status=NodeStatus.READY)
    labels = {"from_status": "ready", "to_status": "broken"}
    in_process = TRANSITIONS.labels(*labels.values())._value.get()
    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        ACTION_SERVICES["mark-broken"].service(machine.system_id, admin)

    assert TRANSITIONS.labels(*labels.values())._value.get() == in_process + 1
    after = scrape(client)
    sample = "maas_machine_transitions_total"
    # Other processes of this host may count the same change meanwhile: at least ours.
    assert (value(after, "maas_machine_transitions", sample, **labels)
            - value(before, "maas_machine_transitions", sample, **labels)) >= 1


@pytest.mark.django_db
def test_power_outcomes_count_by_action_and_outcome(client, django_capture_on_commit_callbacks):
    machine = MachineFactory(status=NodeStatus.DEPLOYED)
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        power_result_record(system_id=machine.system_id, action="on", purpose="user",
                            state="on")
        power_failure_record(system_id=machine.system_id, action="off", purpose="user",
                             kind="PowerAuthError", message="bad password")
    after = scrape(client)
    for labels in ({"action": "on", "outcome": "success"},
                   {"action": "off", "outcome": "PowerAuthError"}):
        assert (value(after, "maas_power_results", "maas_power_results_total", **labels)
                - value(before, "maas_power_results", "maas_power_results_total", **labels)) >= 1


@pytest.mark.django_db
def test_machines_by_status_match_the_database(client, django_assert_max_num_queries):
    MachineFactory.create_batch(3, status=NodeStatus.READY)
    MachineFactory.create_batch(2, status=NodeStatus.DEPLOYED)
    MachineFactory(status=NodeStatus.FAILED_COMMISSIONING)

    with django_assert_max_num_queries(4):  # machines, racks' image sync, racks' queues
        families = scrape(client)

    expected = dict(Machine.objects.values_list("status").annotate(n=Count("id")))
    for status in NodeStatus:
        assert value(families, "maas_machines", "maas_machines",
                     status=status_label(status)) == expected.get(status.value, 0)
    assert value(families, "maas_machines", "maas_machines", status="ready") == 3


@pytest.mark.django_db
def test_a_broker_that_is_down_reports_up_0_and_metrics_still_answer(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_tcp_port()}/0"
    started = time.monotonic()
    families = scrape(client)
    assert time.monotonic() - started < 10
    assert value(families, "maas_broker_up", "maas_broker_up") == 0
    assert "maas_machines" in families


@pytest.mark.django_db
def test_redis_queue_depths_of_the_region_and_every_rack(client):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs the Redis broker (CI=true)")
    rack = RackControllerFactory()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    key = f"rack.{rack.name}"
    broker.delete(key)
    broker.lpush(key, b"{}", b"{}")
    try:
        families = scrape(client)
    finally:
        broker.delete(key)
    assert value(families, "maas_broker_up", "maas_broker_up") == 1
    assert value(families, "maas_queue_messages", "maas_queue_messages", queue=key) == 2
    assert ("maas_queue_messages", (("queue", "region"),)) in families["maas_queue_messages"]


@pytest.mark.django_db
def test_filesystem_broker_depths_and_oldest_age(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://localhost/"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    rack = RackControllerFactory(name="r1")
    old = tmp_path / "1000_6c1f.region.msg"
    old.write_text("{}")
    os.utime(old, (time.time() - 120, time.time() - 120))
    (tmp_path / "1001_7d2a.region.msg").write_text("{}")
    (tmp_path / f"1002_8e3b.rack.{rack.name}.msg").write_text("{}")
    (tmp_path / "partial-abc").write_text("")  # a message still being written

    families = scrape(client)

    assert value(families, "maas_broker_up", "maas_broker_up") == 1
    assert value(families, "maas_queue_messages", "maas_queue_messages", queue="region") == 2
    assert value(families, "maas_queue_messages", "maas_queue_messages", queue="rack.r1") == 1
    age = value(families, "maas_queue_oldest_message_age_seconds",
                "maas_queue_oldest_message_age_seconds", queue="region")
    assert 110 < age < 300


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_without_a_token_loopback_clients_only(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.5")
    assert response.status_code == 403 and b"maas_" not in response.content


@pytest.mark.django_db
def test_with_a_token_a_bearer_of_it_only(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    remote = {"REMOTE_ADDR": "10.0.0.5"}
    assert client.get("/metrics", **remote).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403  # token required
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **remote).status_code == 403
    scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token", **remote)


@pytest.mark.django_db
def test_without_multiprocess_mode_this_process_own_counts_still_show(client, monkeypatch):
    monkeypatch.setattr("maasproject.metrics.multiprocess_enabled", lambda: False)
    client.get("/metrics")
    families = scrape(client)
    assert value(families, "maas_http_requests", "maas_http_requests_total",
                 route="metrics", method="GET", status="200") >= 1
    assert "maas_machines" in families and "process_cpu_seconds" in families
