"""Celery application: region tasks on the `region` queue, rack tasks on `rack.<name>`."""
import logging
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "maasproject.settings")

app = Celery("maasproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger(__name__)


@worker_ready.connect
def _warn_about_a_volatile_broker(sender=None, **_kwargs) -> None:
    """Say at start when the broker Redis would lose queued work on a restart."""
    from maasproject.backends import broker_persistence_problem

    problem = broker_persistence_problem(app.conf.broker_url or "")
    if problem:
        logger.warning(problem)


@app.on_after_finalize.connect
def _schedule_periodic_tasks(sender: Celery, **_kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.DEADLINE_CHECK_INTERVAL,
        sender.signature("nodes.tasks.expire_status_deadlines"),
        name="expire machine status deadlines",
    )
    sender.add_periodic_task(
        settings.DEADLINE_CHECK_INTERVAL,
        sender.signature("nodes.tasks.heartbeat_sweep"),
        name="fail machines whose job runner went silent",
    )
    sender.add_periodic_task(
        settings.POWER_POLL_TICK,
        sender.signature("nodes.tasks.poll_power_states"),
        name="poll machine power states",
    )
    sender.add_periodic_task(
        settings.POWER_RESULT_CHECK_INTERVAL,
        sender.signature("nodes.tasks.resend_power_requests"),
        name="send again or fail power requests with no outcome",
    )
    sender.add_periodic_task(
        settings.RACK_STATUS_INTERVAL,
        sender.signature("zones.tasks.rack_status_sweep"),
        name="rack status from heartbeats",
    )
    sender.add_periodic_task(
        3600.0,
        sender.signature("nodes.tasks.prune_power_receipts"),
        name="forget recorded power outcomes older than a day",
    )
