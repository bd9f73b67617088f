"""Failure limits per client address, kept in the Django cache that every region process shares."""
from django.core.cache import cache
from rest_framework.exceptions import Throttled


class FailureLimit:
    """At most `limit` failures per address in a `window` of seconds; then every try is refused.

    Only failures count, so a client that gets it right is never slowed down, while guessing a
    secret costs a window per `limit` guesses. The window is fixed (from the first failure).
    """

    def __init__(self, scope: str, limit: int, window: int):
        self.scope, self.limit, self.window = scope, limit, window

    def _key(self, address: str) -> str:
        return f"failures:{self.scope}:{address}"

    def check(self, address: str) -> None:
        """Raise Throttled (429 with Retry-After) if `address` used up its failures."""
        if (cache.get(self._key(address)) or 0) >= self.limit:
            raise Throttled(wait=self.window,
                            detail=f"Too many failed attempts from {address}; try again later.")

    def reset(self, address: str) -> None:
        cache.delete(self._key(address))

    def record(self, address: str) -> None:
        key = self._key(address)
        cache.add(key, 0, self.window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, self.window)
