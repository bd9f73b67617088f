"""Concurrent allocation: 50 clients, 20 Ready machines, each machine handed out exactly once.

Each thread has its own database connection. On PostgreSQL the rows are claimed with
SELECT ... FOR UPDATE SKIP LOCKED; on SQLite the database write lock serialises the writers.
The tests run on both; PostgreSQL is the interesting case and never skips when CI=true.
"""
import threading
from collections import Counter

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from nodes.selectors.allocation import AllocationConstraints
from nodes.services.allocation import machine_allocate
from nodes.services.errors import NoMatchingMachine
from rack_worker.env import env_bool
from tests.factories import MachineFactory, UserFactory, make_api_key

CLIENTS = 50
MACHINES = 20
URL = "/api/v1/machines/allocate/"


def run_parallel(work, count: int) -> list:
    """Run work(i) in `count` threads that start together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "allocation threads hung"
    return results


@pytest.fixture
def database_checked():
    """Fail (never skip) when CI=true is not on PostgreSQL; elsewhere SQLite runs them too."""
    if connection.vendor == "postgresql":
        return
    if env_bool("CI"):
        pytest.fail(f"CI=true must run these on PostgreSQL, not {connection.vendor}")
    if connection.vendor != "sqlite":
        pytest.skip(f"Concurrency tests need PostgreSQL or SQLite, not {connection.vendor}")


@pytest.fixture
def ready_machines(database_checked):
    """20 Ready machines of mixed sizes."""
    return [MachineFactory(status=NodeStatus.READY, cpu_count=1 + i % 4) for i in range(MACHINES)]


def assert_each_machine_allocated_once(allocated_ids: list[int], users) -> None:
    """20 distinct machines, all Allocated, each to the user who got it, one Event each."""
    assert len(allocated_ids) == MACHINES
    assert len(set(allocated_ids)) == MACHINES
    machines = Machine.objects.filter(pk__in=allocated_ids)
    assert all(m.status == NodeStatus.ALLOCATED for m in machines)
    assert sorted(m.owner_id for m in machines) == sorted(u.pk for u in users)
    assert Event.objects.filter(type="allocate").count() == MACHINES
    assert not Machine.objects.filter(status=NodeStatus.READY).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_service_calls_hand_out_each_machine_once(ready_machines):
    """50 threads call the service directly against 20 machines."""
    users = [UserFactory() for _ in range(CLIENTS)]
    results = run_parallel(lambda i: machine_allocate(users[i], AllocationConstraints()), CLIENTS)
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"Machine": MACHINES, "NoMatchingMachine": CLIENTS - MACHINES}, results
    won = [(r.pk, users[i]) for i, r in enumerate(results) if isinstance(r, Machine)]
    assert_each_machine_allocated_once([pk for pk, _ in won], [u for _, u in won])
    assert all(isinstance(r, NoMatchingMachine) for r in results if not isinstance(r, Machine))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_api_clients_hand_out_each_machine_once(ready_machines):
    """50 threads post to the API, each as its own user with its own API key."""
    users = [UserFactory() for _ in range(CLIENTS)]
    keys = [make_api_key(u) for u in users]

    def work(i: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {keys[i]}")
        return client.post(URL, {}, format="json")

    responses = run_parallel(work, CLIENTS)
    errors = [r for r in responses if isinstance(r, Exception)]
    assert not errors, errors
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: MACHINES, 409: CLIENTS - MACHINES}, codes
    won = [(r.json(), users[i]) for i, r in enumerate(responses) if r.status_code == 200]
    assert all(body["owner"] == user.username for body, user in won)
    system_ids = [body["system_id"] for body, _ in won]
    assert len(set(system_ids)) == MACHINES
    ids = list(Machine.objects.filter(system_id__in=system_ids).values_list("pk", flat=True))
    assert_each_machine_allocated_once(ids, [user for _, user in won])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_machine_locked_by_another_write_is_waited_for_not_refused(database_checked):
    """A Ready machine whose row another transaction holds for a moment (a power result being
    recorded) is allocated once that transaction ends: no 409 for a machine that was free."""
    machine = MachineFactory(status=NodeStatus.READY)
    user = UserFactory()
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                Machine.objects.select_for_update().get(pk=machine.pk)
                Machine.objects.filter(pk=machine.pk).update(power_state="off")
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(10)
    threading.Timer(0.5, release.set).start()
    allocated = machine_allocate(user, AllocationConstraints())
    holder.join(10)
    assert (allocated.pk, allocated.owner_id) == (machine.pk, user.pk)
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.ALLOCATED
