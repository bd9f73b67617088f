"""The rack's Celery app: consumes its own `rack.<name>` queue; no Django, no database."""
from celery import Celery

from rack_worker.env import broker_transport, broker_transport_options, broker_url

# fixups=[]: Celery applies its Django fixup whenever DJANGO_SETTINGS_MODULE is set (a rack
# started from a region shell inherits it), and that fixup loads the region's settings.
app = Celery("rack_worker", include=["rack_worker.tasks"], fixups=[])
app.conf.update(
    broker_url=broker_url(),
    broker_transport=broker_transport(broker_url()),
    broker_transport_options=broker_transport_options(broker_url()),
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="rack.unassigned",
    broker_connection_retry_on_startup=True,
)
