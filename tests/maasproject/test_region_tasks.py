"""Region tasks run at least once: late acknowledgement, redelivery, retries with backoff."""
import itertools

import pytest
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from maasproject import region_tasks
from maasproject.celery import app as celery_app
from maasproject.region_tasks import TRANSIENT_ERRORS, region_task

REGION_TASKS = ["nodes.tasks.expire_status_deadlines", "nodes.tasks.heartbeat_sweep",
                "nodes.tasks.poll_power_states", "nodes.tasks.record_power_result",
                "nodes.tasks.record_power_failure", "zones.tasks.rack_status_sweep",
                "nodes.tasks.prune_power_receipts"]
_names = itertools.count()  # Celery keeps the first callable registered under a name


def test_region_queue_acknowledges_late_and_redelivers_when_a_worker_dies():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1


@pytest.mark.parametrize("name", REGION_TASKS)
def test_every_region_task_retries_database_and_broker_errors(name):
    celery_app.loader.import_default_modules()
    task = celery_app.tasks[name]
    assert set(task.autoretry_for) == set(TRANSIENT_ERRORS)
    assert task.retry_jitter
    # A task waits at most 10 s once its backend is back...
    assert task.retry_backoff and task.retry_backoff_max == 10
    # ... and its retries outlast an hour's outage: full jitter draws each wait at random
    # below 1, 2, 4 ... 10 s, so a wait is half of that on average.
    waits = [min(2 ** n, task.retry_backoff_max) / 2 for n in range(task.max_retries)]
    assert sum(waits) >= 3600


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"),
                                   InterfaceError("connection already closed"),
                                   BrokerError("Connection refused")])
def test_a_transient_error_is_retried_until_the_task_succeeds(monkeypatch, error):
    calls, closed = [], []
    monkeypatch.setattr(region_tasks, "close_old_connections", lambda: closed.append(1))

    @region_task(f"tests.flaky.{next(_names)}")
    def flaky(value):
        calls.append(value)
        if len(calls) < 3:
            raise error
        return value * 2

    assert flaky.apply(args=[21]).get() == 42
    assert calls == [21, 21, 21]
    # Stale database connections are dropped before a retry; a broker error leaves them.
    assert len(closed) == (0 if isinstance(error, BrokerError) else 2)


def test_other_errors_are_not_retried():
    calls = []

    @region_task(f"tests.broken.{next(_names)}")
    def broken():
        calls.append(1)
        raise ValueError("a bug, not an outage")

    result = broken.apply()
    assert isinstance(result.result, ValueError) and calls == [1]


def test_importing_the_rack_app_leaves_region_tasks_on_the_region_app():
    """A region process imports the rack's app (rack_worker.client names its task): were it
    made current, shared_task and current_app would send the region's tasks with the rack's
    configuration, to its default queue rack.unassigned, where no region worker listens."""
    from celery import current_app

    import rack_worker.celery_app  # noqa: F401 - what a region process does
    from nodes.tasks import expire_status_deadlines

    assert current_app._get_current_object() is celery_app
    assert expire_status_deadlines._get_current_object().app is celery_app
    assert celery_app.amqp.router.route({}, expire_status_deadlines.name)["queue"].name == "region"
