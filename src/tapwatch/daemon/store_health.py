"""Whether the store takes writes, as one state for the whole daemon.

A store that stops taking writes (store/health.py says why) is tapwatch's problem, not any
app's: its polls are not failures of the apps, and nothing fetched is lost.

* The first failed store call marks the store failing: one log line naming the file, what
  is wrong and what to do; `tapwatch_store_healthy` turns 0 and /readyz answers 503.
* While it fails, pollers wait instead of fetching what they could not store (their cursors
  stay where the last commit left them, so the upstream is read again afterwards), and
  detector passes and pruning skip. A readonly or io store is not even read: SQLite would
  write to its memory-mapped index and the kernel would answer with SIGBUS.
* A probe write every `PROBE_INTERVAL_S` finds when a readonly, full or locked store takes
  writes again (a full one also waits for real room: store.health.short_of_space): one log
  line, and the pollers resume. A corrupt store, or one with I/O errors, stays failing
  until tapwatch is restarted on a repaired store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tapwatch.store.health import StoreError, StoreFault

log = logging.getLogger("tapwatch.store")

#: seconds between probe writes while the store fails
PROBE_INTERVAL_S = 5.0
#: faults that only an operator and a restart can end: not probed
FINAL_FAULTS = frozenset({StoreFault.corrupt, StoreFault.io})
#: faults where even reads are kept off the files (SIGBUS, see store/health.py)
UNREADABLE_FAULTS = frozenset({StoreFault.readonly, StoreFault.io})


class StoreHealth:
    """The store's state; changed on the event loop only."""

    def __init__(
        self,
        path: Path,
        *,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.error: StoreError | None = None
        #: when the current failure began (None while healthy)
        self.since: float | None = None
        #: failed calls on the writer connection (commits, findings, pruning, probes)
        self.write_failures: Counter[StoreFault] = Counter()
        self._on_change = on_change
        self._clock = clock
        self._failures_now = 0  # of the current failure, for the recovery line
        self._healthy = asyncio.Event()
        self._healthy.set()

    @property
    def healthy(self) -> bool:
        return self.error is None

    @property
    def fault(self) -> StoreFault | None:
        return None if self.error is None else self.error.fault

    @property
    def refuses_reads(self) -> bool:
        return self.error is not None and self.error.fault in UNREADABLE_FAULTS

    @property
    def probed(self) -> bool:
        """Whether probe writes can end the current failure."""
        return self.error is not None and self.error.fault not in FINAL_FAULTS

    def failed(self, err: StoreError, *, write: bool) -> None:
        """A store call failed with `err` (`write`: on the writer connection)."""
        if write:
            self.write_failures[err.fault] += 1
            self._failures_now += 1
        if self.error is not None and self.error.fault is err.fault:
            self.error = err  # the same state, said already: keep its latest detail
            return
        first = self.error is None
        self.error = err
        if first:
            self.since = self._clock()
            self._healthy.clear()
        then = "then restart tapwatch" if err.fault in FINAL_FAULTS else "writing resumes by itself"
        log.error(
            "%s. Polls wait and resume from their last stored position: nothing is lost. "
            "To do: %s; %s.",
            err, err.advice, then,
        )
        self._on_change()

    def recovered(self) -> None:
        """A write succeeded: the store takes writes again."""
        if self.error is None:
            return
        took = self._clock() - (self.since or self._clock())
        log.info(
            "store %s takes writes again after %.0f s (%s, %d failed writes); polls resume",
            self.path, took, self.error.fault.value, self._failures_now,
        )
        self.error = None
        self.since = None
        self._failures_now = 0
        self._healthy.set()
        self._on_change()

    async def wait_healthy(self) -> None:
        """Return once the store takes writes (at once if it does)."""
        await self._healthy.wait()
