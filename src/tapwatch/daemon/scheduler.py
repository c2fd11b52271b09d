"""The scheduler: one poll loop per registered app.

Habits from Home Assistant's DataUpdateCoordinator and blackbox_exporter:
- the next poll is scheduled after the last one ends (polls never overlap);
- random jitter spreads the fleet, the first poll lands anywhere in the first interval;
- failures back off exponentially up to a cap, and `Retry-After` is honoured;
- failures are typed (auth, timeout, connect, http_status, decode, schema, too_large,
  rate_limited), counted in metrics, and logged on state change only (failing once,
  recovered once, a traceback only for the first failure that is our own bug), never every
  attempt; rejected events likewise (tapwatch.sources.normalise.RejectLog);
- last good data stays in the store and is marked stale, never deleted on failure;
- one app's slow or failing source never delays another's: each has its own task;
- a store that stops taking writes is not the app's failure (daemon/store_health.py): the
  poll is recorded as `store` in the debug view only, and the poller waits for the store
  before fetching again, from the cursor the last commit left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from tapwatch.columns import EventColumns
from tapwatch.config import AppConfig, CollectorConfig
from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import ErrorReason, PollContext, RejectLog, Source, SourceError
from tapwatch.store.health import StoreError
from tapwatch.store.sqlite import IngestBatch

log = logging.getLogger("tapwatch.scheduler")

#: reason label for a failure that is tapwatch's own bug, not the app's
INTERNAL = "internal"
#: reason of a poll whose data the store would not take (debug view only: not the app's)
STORE = "store"
#: pages are merged into one store transaction up to about this many events
COMMIT_EVENTS = 5000


def merge_batches(batches: list[IngestBatch]) -> IngestBatch:
    """Batches fetched one after another, as one: the last cursor, every event. Only the
    last may finish a file (each file is recorded on its own)."""
    if len(batches) == 1:
        return batches[0]
    assert all(b.file_done is None for b in batches[:-1])
    rejected = batches[0].rejected.copy()
    skipped = batches[0].skipped.copy()
    for b in batches[1:]:
        rejected.update(b.rejected)
        skipped.update(b.skipped)
    cursors = [b.cursor for b in batches if b.cursor is not None]
    return IngestBatch(
        events=EventColumns.concat([b.events for b in batches], dedup=False),
        rejected=rejected,
        skipped=skipped,
        cursor=cursors[-1] if cursors else None,
        snapshot=next((b.snapshot for b in reversed(batches) if b.snapshot), None),
        file_done=batches[-1].file_done,
    )


@dataclass(slots=True)
class Attempt:
    """One poll, for the debug view."""

    started_at: float
    duration_s: float
    ok: bool
    reason: str | None
    detail: str | None
    events_ingested: int
    events_rejected: int
    duplicates: int


@dataclass
class AppState:
    """What the collector knows about one app's polling (read by /metrics)."""

    interval: float
    up: int | None = None  # None until the first poll ends
    last_success: float | None = None
    last_attempt: float | None = None
    scrape_duration: float | None = None
    poll_lag: float = 0.0
    consecutive_failures: int = 0
    caught_up: bool = False  # has a poll ever ended with nothing left to fetch?
    version: int = 0  # bumped after every poll: /metrics re-formats the app's lines
    #: the reason of the failure being logged (None while polls succeed)
    failing: str | None = None
    errors: Counter[str] = field(default_factory=Counter)
    ingested: Counter[str] = field(default_factory=Counter)  # by event type
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    skipped: Counter[str] = field(default_factory=Counter)  # platform records, by SkipReason
    history: deque[Attempt] = field(default_factory=lambda: deque(maxlen=20))

    def stale(self, now: float) -> bool:
        """Last good data older than three intervals (or none yet after three)."""
        return self.last_success is None or now - self.last_success > 3 * self.interval


def backoff_delay(interval: float, failures: int, max_backoff: float) -> float:
    """Delay before the next attempt after `failures` consecutive failures (≥ 1):
    the interval, doubled per failure, capped."""
    return min(max_backoff, interval * 2 ** min(failures - 1, 30))


class AppPoller:
    """Polls one app on its own schedule until stopped."""

    def __init__(
        self,
        app: AppConfig,
        source: Source,
        *,
        store: AsyncStore,
        session: aiohttp.ClientSession,
        pseudonymizer: Pseudonymizer,
        collector: CollectorConfig,
        rollup_retention: float,
        state: AppState,
        on_cycle: Callable[[], None],
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.source = source
        self.store = store
        self.session = session
        self.pseudonymizer = pseudonymizer
        self.collector = collector
        self.rollup_retention = rollup_retention
        self.state = state
        self.on_cycle = on_cycle
        self.clock = clock
        self.rng = rng or random.Random()
        self.interval = app.source.interval or collector.default_interval
        self.timeout = app.source.timeout or collector.default_timeout
        self.reject_log = RejectLog(app.id)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"poll:{self.app.id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _jittered(self, delay: float) -> float:
        j = self.collector.jitter
        return max(0.0, delay * (1.0 + self.rng.uniform(-j, j)))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.rng.uniform(0, min(self.interval, 5.0))
        while True:
            due = loop.time() + delay
            await asyncio.sleep(delay)
            health = self.store.health
            if not health.healthy:
                # nothing fetched now could be stored: wait for the store, then spread the
                # fleet's first polls as at start
                await health.wait_healthy()
                delay = self.rng.uniform(0, min(self.interval, 5.0))
                due = loop.time() + delay
                await asyncio.sleep(delay)
            self.state.poll_lag = max(0.0, loop.time() - due)
            retry_after, backlog = await self.poll_once()
            if not health.healthy:
                delay = 0.0  # to the wait above
            elif self.state.consecutive_failures == 0:
                # catching up on a backlog: go on at once, other apps still get their turn
                delay = 0.0 if backlog else self._jittered(self.interval)
            else:
                failures = self.state.consecutive_failures
                delay = self._jittered(
                    backoff_delay(self.interval, failures, self.collector.max_backoff)
                )
                # the app's own Retry-After wins, within our cap
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.collector.max_backoff))

    async def poll_once(self) -> tuple[float | None, bool]:
        """One poll: fetch, ingest batch by batch. Returns (Retry-After if the app gave
        one, whether data is still waiting)."""
        st = self.state
        started = self.clock()
        t0 = time.perf_counter()
        ingested = rejected = dups = 0
        reason: str | None = None
        detail: str | None = None
        retry_after: float | None = None
        ctx: PollContext | None = None
        bug: Exception | None = None
        try:
            cursor, done = await self.store.resume_point(self.app.id)
            ctx = PollContext(
                app_id=self.app.id,
                session=self.session,
                pseudonymizer=self.pseudonymizer,
                now=self.clock,
                timeout=self.timeout,
                max_response_bytes=self.collector.max_response_bytes,
                max_clock_skew=self.collector.max_clock_skew,
                oldest_accepted=started - self.rollup_retention,
                cursor=cursor,
                files_done=done,
                reject_log=self.reject_log,
            )
            pending: list[IngestBatch] = []

            async def commit(batch: IngestBatch) -> None:
                nonlocal ingested, dups, rejected
                res = await self.store.ingest(self.app.id, batch, self.clock())
                ingested += res.inserted
                dups += res.duplicates
                rejected += sum(batch.rejected.values())
                st.ingested.update(res.by_type)
                st.rejected.update(batch.rejected)
                st.skipped.update(batch.skipped)
                if res.duplicates:
                    st.rejected["duplicate"] += res.duplicates

            try:
                # Small pages are committed a few at a time (still one transaction with
                # the cursor after the last of them): fewer rollup upserts per event.
                waiting = 0
                async for batch in self.source.poll(ctx):
                    pending.append(batch)
                    waiting += len(batch.events)
                    if batch.file_done is not None or waiting >= COMMIT_EVENTS:
                        await commit(merge_batches(pending))
                        pending, waiting = [], 0
            finally:
                if pending:  # what was fetched before a failure is kept
                    await commit(merge_batches(pending))
            self.reject_log.poll_done()
        except SourceError as e:
            reason, detail, retry_after = e.reason.value, e.detail, e.retry_after
        except StoreError as e:
            # the store's failure (logged once by the store's health), not the app's: the
            # app's state stays as it was, the attempt shows in the debug view
            st.history.append(
                Attempt(started, time.perf_counter() - t0, False, STORE, str(e), ingested,
                        rejected, dups)
            )
            return None, False
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug of ours must not kill the poll loop
            reason, detail, bug = INTERNAL, f"{type(e).__name__}: {e}", e
        st.scrape_duration = time.perf_counter() - t0
        st.last_attempt = started
        ok = reason is None
        st.history.append(
            Attempt(started, st.scrape_duration, ok, reason, detail, ingested, rejected, dups)
        )
        backlog = ok and ctx is not None and ctx.backlog
        if ok:
            st.caught_up = st.caught_up or not backlog
            if st.up == 0:
                log.info(
                    "app %s: recovered after %d failed polls", self.app.id, st.consecutive_failures
                )
            st.up = 1
            st.failing = None
            st.consecutive_failures = 0
            st.last_success = self.clock()
        else:
            assert reason is not None
            st.errors[reason] += 1
            if st.failing != reason:  # a new state: failing, or failing for another reason
                hint = " (check credentials)" if reason == ErrorReason.auth else ""
                # a bug of ours: its traceback, with this line only (not every poll)
                log.warning(
                    "app %s: polling failing (%s): %s%s", self.app.id, reason, detail, hint,
                    exc_info=bug,
                )
            st.up = 0
            st.failing = reason
            st.consecutive_failures += 1
        st.version += 1
        self.on_cycle()
        return retry_after, backlog
