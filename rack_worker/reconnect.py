"""A Celery worker consumer that retries a lost broker every 0.5 to 2 s, for brokers behind
Redis Sentinel: region and rack workers use it (rack_worker.env.worker_consumer)."""
from functools import partial

from celery.worker.consumer import Consumer

# Celery waits 2 s, then 4, 6... (up to 30) between rounds over the broker URLs: a worker that
# lost its master retried 0.5, 2.5, 6.5 and 12.5 s after the loss, so a failover that took 3 s
# cost 6.5 s. Every 0.5 s, then up to every 2 s, it follows the promotion within 2 s.
INTERVALS = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 2}


class FastReconnectConsumer(Consumer):
    """Celery's consumer, but connecting (and reconnecting) with INTERVALS between rounds."""

    def ensure_connected(self, conn):
        conn.ensure_connection = partial(conn.ensure_connection, **INTERVALS)
        return super().ensure_connected(conn)
