"""The store, off the event loop: writes go to one dedicated thread (SQLite has one writer
anyway), reads for detection to another connection in a second thread (WAL lets them run
side by side)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from tapwatch.store.sqlite import IngestBatch, IngestResult, Store

T = TypeVar("T")


class AsyncStore:
    def __init__(self, path: Path) -> None:
        self._wpool = ThreadPoolExecutor(1, thread_name_prefix="store-write")
        self._rpool = ThreadPoolExecutor(1, thread_name_prefix="store-read")
        self.writer = self._wpool.submit(Store, path).result()
        self.reader = self._rpool.submit(Store, path).result()
        self.path = path

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._wpool, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._rpool, fn, *args)

    async def ingest(
        self, app_id: str, batch: IngestBatch, tz: ZoneInfo, now: float
    ) -> IngestResult:
        return await self.write(self.writer.ingest, app_id, batch, tz, now)

    async def resume_point(self, app_id: str) -> tuple[str | None, set[str]]:
        def get() -> tuple[str | None, set[str]]:
            return self.writer.cursor(app_id), self.writer.files_done(app_id)

        return await self.write(get)

    def close(self) -> None:
        self._wpool.submit(self.writer.close).result()
        self._rpool.submit(self.reader.close).result()
        self._wpool.shutdown()
        self._rpool.shutdown()
