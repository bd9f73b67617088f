"""The rack's Celery app: consumes its own `rack.<name>` queue; no Django, no database."""
from celery import Celery

from maasproject.broker import broker_transport_options, broker_url

app = Celery("rack_worker", include=["rack_worker.tasks"])
app.conf.update(
    broker_url=broker_url(),
    broker_transport_options=broker_transport_options(broker_url()),
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="rack.unassigned",
    broker_connection_retry_on_startup=True,
)
