"""Results worth computing once for everyone who asks at the same moment.

An alert links many inspectors to the same finding at once: each would read and decode
the same evidence events and draw the same plots. `RecentResults` keeps a result per key
for `ttl_s` seconds (at most `size` keys, least recently used out first), and concurrent
requests for a key still being computed share that one computation. Keys name what the
result depends on (a finding's id, status and last detector sighting), so a change makes a
new key; the TTL bounds what no key can name (raw retention pruning events meanwhile).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RecentResults(Generic[T]):
    def __init__(
        self, size: int = 64, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, asyncio.Future[Any]]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The result for `key`: kept, being computed, or computed now."""
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            self._entries.move_to_end(key)
            return await asyncio.shield(hit[1])  # type: ignore[no-any-return]
        fut: asyncio.Future[T] = asyncio.ensure_future(compute())
        self._entries[key] = (now, fut)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        try:
            return await asyncio.shield(fut)
        except BaseException:
            if self._entries.get(key, (0.0, None))[1] is fut:
                del self._entries[key]  # a failure is not remembered
            raise
