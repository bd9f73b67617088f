"""kombu's Redis Sentinel transport, but a worker survives losing its master while it holds
messages (the broker_transport of `sentinel://` URLs: rack_worker.env)."""
import redis.exceptions
from kombu.transport.redis import SentinelChannel, SentinelTransport


class Channel(SentinelChannel):
    """A closed channel fails as a lost connection, not as a bug.

    When the master dies, Celery closes the channel and opens another; closing puts back the
    messages it took, and a task still running acknowledges its message on it later. kombu 5.7
    rebuilds the closed channel's Sentinel pool for both from a connection it already cleared
    and raises AttributeError, which stopped the rack worker ("Unrecoverable error"). As a
    connection error it is logged and dropped: the messages stay in the promoted replica's
    `unacked` hash and any worker restores them after CELERY_VISIBILITY_TIMEOUT.
    """

    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("channel closed: its broker connection is gone")
        return super()._connparams(asynchronous)


class Transport(SentinelTransport):
    Channel = Channel
