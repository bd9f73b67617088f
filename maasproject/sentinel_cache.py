"""Django's Redis cache through Redis Sentinel: the broker's master, wherever Sentinel put it.

Django's RedisCache takes redis:// URLs only. This client asks the Sentinels named by a
`sentinel://h1:26379;sentinel://h2:26379/0` LOCATION for the master (OPTIONS master_name), so
the rate limits and beat tick claims follow the broker through a failover.
"""
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.sentinel import Sentinel

from rack_worker.env import sentinel_parts


class SentinelCacheClient(RedisCacheClient):
    """Every read and write on the current master: a replica may lag behind a claim."""

    def __init__(self, servers, master_name: str, **options) -> None:
        super().__init__(servers, **options)
        parts = sentinel_parts(";".join(servers))
        timeouts = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout")
                    if key in options}
        self._master = Sentinel(parts["sentinels"], sentinel_kwargs=timeouts).master_for(
            master_name, db=parts["db"], username=parts["username"],
            password=parts["password"], **self._pool_options)

    def get_client(self, key=None, *, write=False):
        return self._master


class SentinelRedisCache(RedisCache):
    """BACKEND for CACHES: LOCATION the broker's sentinel:// URL, OPTIONS {"master_name": ...}."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = SentinelCacheClient
