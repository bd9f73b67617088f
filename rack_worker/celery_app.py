"""The rack's Celery app: consumes its own `rack.<name>` queue; no Django, no database."""
from celery import Celery

from rack_worker.env import (
    broker_connection_max_retries,
    broker_transport,
    broker_transport_options,
    broker_url,
    worker_consumer,
)

# fixups=[]: Celery applies its Django fixup whenever DJANGO_SETTINGS_MODULE is set (a rack
# started from a region shell inherits it), and that fixup loads the region's settings.
# set_as_current=False: a region process imports this module (rack_worker.client names the
# rack's task), and a current app of the rack's would take the region's own tasks: shared_task
# and current_app resolve to the current app, whose default queue here is rack.unassigned. The
# rack's worker makes it current itself when it runs.
app = Celery("rack_worker", include=["rack_worker.tasks", "rack_worker.chassis"], fixups=[],
             set_as_current=False)
app.conf.update(
    broker_url=broker_url(),
    broker_transport=broker_transport(broker_url()),
    broker_transport_options=broker_transport_options(broker_url()),
    # At least once, as the region's tasks: a power job is acknowledged when it ends, goes back
    # to the queue when its worker process dies (reject_on_worker_lost) and, when the whole
    # worker dies (kill -9, power loss), Redis gives it to the next rack worker after the
    # visibility timeout (rack_worker.env). Without reject_on_worker_lost a killed pool process
    # acknowledged its job as failed and nobody told the region. Running a job twice is safe:
    # on, off and query are idempotent at the BMC, a cycle only reboots the machine once more
    # (it still ends on, with the same one-time boot device), and the region records the
    # outcome of a request id once (nodes.services.power).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="rack.unassigned",
    broker_connection_retry_on_startup=True,
    # Behind Sentinels: reconnect every 0.5-2 s, forever, to follow a failover (rack_worker.env).
    worker_consumer=worker_consumer(broker_url()),
    broker_connection_max_retries=broker_connection_max_retries(broker_url()),
)
