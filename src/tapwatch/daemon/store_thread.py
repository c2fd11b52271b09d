"""The store, off the event loop.

* writes go to one dedicated thread (SQLite has one writer anyway);
* detection reads go to a second connection in a thread of its own (its input cache
  follows that connection);
* the findings API and pages read through a small pool of read-only connections, one per
  thread, so an inspector's page never queues behind the detector's reads or another
  inspector's export (WAL lets every reader run beside the writer).

Every call goes through the store's health (daemon/store_health.py): a call the store
cannot serve for a reason outside tapwatch raises `StoreError` and marks the store failing,
a call while it fails is refused without touching the files, and each call first checks
that the files still take writes (store/health.py: SIGBUS otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tapwatch.daemon.store_health import PROBE_INTERVAL_S, StoreHealth
from tapwatch.store.dedup_tiers import DEFAULT_MEMORY
from tapwatch.store.health import (
    StoreError,
    StoreFault,
    check_database_file,
    classify,
    short_of_space,
    unwritable,
)
from tapwatch.store.sqlite import IngestBatch, IngestResult, Store

T = TypeVar("T")

log = logging.getLogger("tapwatch.store")

#: read-only connections for the findings API and pages
QUERY_READERS = 4


def _guarded(path: Path, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """`fn(*args)` unless a store file refuses writes (then its StoreError)."""
    err = unwritable(path)
    if err is not None:
        raise err
    return fn(*args)


class AsyncStore:
    def __init__(
        self,
        path: Path,
        *,
        on_health_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        query_readers: int = QUERY_READERS,
        dedup_memory: int = DEFAULT_MEMORY,
    ) -> None:
        """Open the store (de-duplication within `dedup_memory` bytes); raises StoreError
        (store/health.py) if it cannot be used."""
        self.path = path
        self.clock = clock
        self.health = StoreHealth(path, on_change=on_health_change, clock=clock)
        self._probe: asyncio.Task[None] | None = None
        check_database_file(path)
        self._wpool = ThreadPoolExecutor(1, thread_name_prefix="store-write")
        self._rpool = ThreadPoolExecutor(1, thread_name_prefix="store-read")
        opened: list[tuple[ThreadPoolExecutor, Store]] = []
        try:
            for pool in (self._wpool, self._rpool):
                opened.append(
                    (pool, pool.submit(_guarded, path, Store, (path, False, dedup_memory)).result())
                )
        except Exception as e:
            self._close(opened)
            err = classify(e, path)
            if err is None:
                raise
            raise err from e
        (_, self.writer), (_, self.reader) = opened
        # opened on first use, one per pool thread (read-only: they never write)
        self._qpool = ThreadPoolExecutor(query_readers, thread_name_prefix="store-query")
        self._local = threading.local()
        self._query_stores: list[Store] = []
        self._query_lock = threading.Lock()

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the writer connection's thread."""
        return await self._call(self._wpool, fn, args, write=True)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the detection reader's thread."""
        return await self._call(self._rpool, fn, args, write=False)

    async def query(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(store, *args)` on one of the read-only query connections."""
        return await self._call(self._qpool, self._on_query_reader, (fn, args), write=False)

    def _on_query_reader(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:  # this pool thread's own connection, opened on first use
            store = self._local.store = Store(self.path, readonly=True)
            with self._query_lock:
                self._query_stores.append(store)
        return fn(store, *args)

    async def elsewhere(self, executor: Executor, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on another executor (the detector worker process) that reads the
        store through its own connection: under the same guard and health as reads here."""
        return await self._call(executor, fn, args, write=False)

    async def _call(
        self, pool: Executor, fn: Callable[..., T], args: tuple[Any, ...], write: bool
    ) -> T:
        h = self.health
        if h.error is not None and (write or h.refuses_reads):
            raise h.error
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _guarded, self.path, fn, args)
        except Exception as e:
            err = classify(e, self.path)
            if err is None:
                raise
            self._failed(err, write)
            raise err from e

    def _failed(self, err: StoreError, write: bool) -> None:
        self.health.failed(err, write=write)
        if self.health.probed and (self._probe is None or self._probe.done()):
            self._probe = asyncio.create_task(self._probe_until_healthy(), name="store-probe")

    async def _probe_until_healthy(self) -> None:
        """A probe write (Store.probe_write) every PROBE_INTERVAL_S until one succeeds, or
        the fault turns into one only a restart ends."""
        loop = asyncio.get_running_loop()
        said_bug = False
        while self.health.probed:
            await asyncio.sleep(PROBE_INTERVAL_S)
            if self.health.fault is StoreFault.full:
                short = short_of_space(self.path)
                if short is not None:  # no write tried: how much is missing, for /readyz
                    self.health.failed(short, write=False)
                    continue
            try:
                await loop.run_in_executor(
                    self._wpool, _guarded, self.path, self.writer.probe_write, (self.clock(),)
                )
            except Exception as e:
                err = classify(e, self.path)
                if err is None:  # a bug of ours: said once, the store's state unchanged
                    if not said_bug:
                        log.exception("store probe write failed")
                        said_bug = True
                    continue
                self.health.failed(err, write=True)
            else:
                self.health.recovered()

    async def ingest(self, app_id: str, batch: IngestBatch, now: float) -> IngestResult:
        return await self.write(self.writer.ingest, app_id, batch, now)

    async def resume_point(self, app_id: str) -> tuple[str | None, set[str]]:
        def get() -> tuple[str | None, set[str]]:
            return self.writer.cursor(app_id), self.writer.files_done(app_id)

        return await self.write(get)

    def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        self._qpool.shutdown(wait=True)
        refuses = unwritable(self.path) is not None
        for store in self._query_stores:
            if refuses:
                store.leave_open()  # as the writer's (see Store.leave_open)
            else:
                store.close()
        self._close([(self._wpool, self.writer), (self._rpool, self.reader)])

    def _close(self, opened: list[tuple[ThreadPoolExecutor, Store]]) -> None:
        refuses = unwritable(self.path) is not None
        for pool, store in opened:
            if refuses:
                store.leave_open()  # closing would checkpoint: SIGBUS (see Store.leave_open)
            else:
                pool.submit(store.close).result()
        self._wpool.shutdown()
        self._rpool.shutdown()
