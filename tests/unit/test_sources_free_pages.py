"""Source adapters let a page (a file chunk, a call's answer) go once it is normalised:
none is still alive while the next one is fetched and decoded, so a poll of a long
backlog holds one page at a time, not two (bench/bench_source_memory.py measures it)."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tapwatch.config import FileSourceConfig, JsonSourceConfig, PlatformUsers
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources import files
from tapwatch.sources.base import PollContext
from tapwatch.sources.checkin_platform import CallLimits, CheckinPlatformSource
from tapwatch.sources.json_api import JsonApiSource

PAGES = 4
PER_PAGE = 50


class Page(list):  # a list that can be watched with a weak reference
    pass


def _records(k: int) -> list[dict[str, Any]]:
    return [
        {"id": f"e{k}-{i}", "ts": f"2026-05-28T20:{i // 60:02d}:{i % 60:02d}Z", "type": "read",
         "account": f"u{i}"}
        for i in range(PER_PAGE)
    ]


class Watch:
    """Each page handed to an adapter, weakly; `check` says none before it is alive."""

    def __init__(self) -> None:
        self.pages: list[weakref.ref[Any]] = []

    def hand(self, page: Any) -> Any:
        assert all(p() is None for p in self.pages), "an earlier page is still held"
        self.pages.append(weakref.ref(page))
        return page


def _ctx() -> PollContext:
    return PollContext(
        app_id="a", session=None, pseudonymizer=Pseudonymizer(b"k" * 32),
        now=lambda: 1_780_100_000.0, timeout=1, max_response_bytes=1 << 20,
        max_clock_skew=600, oldest_accepted=0,
    )


def _drain(poll: AsyncIterator[Any]) -> int:
    async def run() -> int:
        n = 0
        async for batch in poll:  # held until the next is asked for, as the scheduler does
            n += len(batch.events)
        return n

    return asyncio.run(run())


def test_a_file_drop_holds_one_chunk_of_records_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps(r) for k in range(PAGES) for r in _records(k)]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    watch = Watch()
    read = files.iter_records

    def watched(path: Path, skip: int = 0, chunk: int = files.CHUNK) -> Iterator[list[Any]]:
        for records in read(path, skip, chunk):
            yield watch.hand(Page(records))

    monkeypatch.setattr(files, "iter_records", watched)
    src = files.FileDropSource(FileSourceConfig(kind="file", path=tmp_path), chunk=PER_PAGE)
    assert _drain(src.poll(_ctx())) == PAGES * PER_PAGE
    assert len(watch.pages) == PAGES


def _json_api(paging: dict[str, Any], page: Any) -> JsonApiSource:
    """A JSON API source whose pages are `page(values)` (the request's template values)."""

    class Paged(JsonApiSource):
        async def _page(self, ctx: PollContext, values: dict[str, Any],
                        extra: dict[str, str]) -> Any:
            return page(values)

    return Paged(JsonSourceConfig.model_validate({
        "kind": "json", "url": "http://app.invalid/events", "items": "items",
        "fields": {f: f for f in ("id", "ts", "type", "account")}, "paging": paging,
    }))


def test_a_paged_json_api_holds_one_page_at_a_time() -> None:
    watch = Watch()

    def page(values: dict[str, Any]) -> Any:
        k = int(values.get("cursor") or 0)
        nxt = str(k + 1) if k + 1 < PAGES else None
        return {"items": watch.hand(Page(_records(k))), "next": nxt}

    paging = {"kind": "cursor", "next_cursor": "next", "cursor_param": "cursor"}
    assert _drain(_json_api(paging, page).poll(_ctx())) == PAGES * PER_PAGE
    assert len(watch.pages) == PAGES


def test_a_json_api_paged_by_offset_holds_one_page_at_a_time() -> None:
    watch = Watch()

    def page(values: dict[str, Any]) -> Any:
        k = values["offset"] // PER_PAGE
        return {"items": watch.hand(Page(_records(k) if k < PAGES else []))}

    paging = {"kind": "offset", "offset_param": "offset", "limit_param": "limit",
              "limit": PER_PAGE}
    assert _drain(_json_api(paging, page).poll(_ctx())) == PAGES * PER_PAGE
    assert len(watch.pages) == PAGES + 1  # the last, empty page says the end


def test_a_checkin_platform_holds_one_call_of_records_at_a_time() -> None:
    watch = Watch()

    class Platform(CheckinPlatformSource):
        limits = CallLimits(max_users=1, max_span_s=10**9)

        async def list_department_users(self, ctx: PollContext, departments: list[int]
                                        ) -> list[str]:
            return []

        async def fetch(self, ctx: PollContext, users: list[str], start: float,
                        end: float) -> list[Any]:
            return watch.hand(Page(_records(int(users[0]))))

        def to_rows(self, records: list[Any], ctx: PollContext
                    ) -> tuple[list[dict[str, Any]], Counter[str]]:
            return [dict(r) for r in records], Counter()

    users = PlatformUsers(user_ids=[str(k) for k in range(PAGES)])
    src = Platform(users, backfill=86400.0, overlap=0.0)
    assert _drain(src.poll(_ctx())) == PAGES * PER_PAGE
    assert len(watch.pages) == PAGES
