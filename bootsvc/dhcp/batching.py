"""Batched, non-blocking delivery of events and lease reports to pluggable callbacks."""
import asyncio
import inspect
import logging

log = logging.getLogger(__name__)


class Batcher:
    """Collects items and hands them to callback(list) in batches from a background task.

    With a key function, a later item replaces a pending one with the same key (a lease
    report keeps only the newest state of each MAC). A synchronous callback runs in a thread so
    that it never blocks packet handling; pending items beyond max_pending are dropped
    (counted)."""

    def __init__(self, callback, convert=lambda item: item, key=None, interval=0.5,
                 max_batch=500, max_pending=100_000):
        self.callback, self.convert, self.key = callback, convert, key
        self.interval, self.max_batch, self.max_pending = interval, max_batch, max_pending
        self.pending: dict = {}
        self._seq = 0
        self.delivered = self.dropped = self.failures = 0

    def add(self, item) -> None:
        if len(self.pending) >= self.max_pending:
            self.dropped += 1
            return
        if self.key is None:
            self._seq += 1
            self.pending[self._seq] = item
        else:
            self.pending[self.key(item)] = item

    async def flush(self) -> None:
        items, self.pending = list(self.pending.values()), {}
        for start in range(0, len(items), self.max_batch):
            batch = [self.convert(item) for item in items[start : start + self.max_batch]]
            try:
                if inspect.iscoroutinefunction(self.callback):
                    await self.callback(batch)
                else:
                    await asyncio.get_running_loop().run_in_executor(None, self.callback, batch)
                self.delivered += len(batch)
            except Exception:
                self.failures += 1
                log.exception("batch callback failed (%d items lost)", len(batch))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.callback is not None:
                await self.flush()
            else:
                self.pending.clear()
