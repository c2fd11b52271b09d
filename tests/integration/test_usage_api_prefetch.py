"""The usage API source fetches the next page while the current one is normalised and
stored: the app's answer time overlaps tapwatch's work. Nothing is lost or taken early."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tapwatch.config import UsageApiSourceConfig
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import ErrorReason, PollContext, SourceError
from tapwatch.sources.usage_api import UsageApiSource

PAGES = 3
PER_PAGE = 5


class Pages:
    """A usage API app of PAGES pages."""

    def __init__(self) -> None:
        self.asked: list[int] = []  # page numbers in the order they were requested
        self.fail_page: int | None = None  # answered with a 500
        self.slow_page: int | None = None  # answered after 1 s
        self.now = time.time()

    async def usage(self, _: web.Request) -> web.Response:
        return web.json_response({"registered_accounts": 10})

    async def events(self, request: web.Request) -> web.Response:
        k = int(request.query.get("cursor", "0"))
        self.asked.append(k)
        if k == self.fail_page:
            return web.Response(status=500)
        if k == self.slow_page:
            await asyncio.sleep(1.0)
        events = [
            {"id": f"e{k}-{i}", "ts": self.now - 60, "type": "form_submit", "account": f"a{i}"}
            for i in range(PER_PAGE)
        ]
        more = k + 1 < PAGES
        return web.json_response(
            {"events": events, "next_cursor": str(k + 1), "has_more": more}
        )


@pytest.fixture
async def served() -> AsyncIterator[tuple[Pages, str, aiohttp.ClientSession]]:
    pages = Pages()
    app = web.Application()
    app.router.add_get("/v1/usage", pages.usage)
    app.router.add_get("/v1/events", pages.events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        yield pages, f"http://127.0.0.1:{port}", session
    await runner.cleanup()


def _poll(base: str, session: aiohttp.ClientSession, max_pages: int = 50) -> tuple:
    source = UsageApiSource(
        UsageApiSourceConfig(kind="usage_api", url=base, page_limit=PER_PAGE,
                             max_pages_per_cycle=max_pages)
    )
    ctx = PollContext(
        app_id="app", session=session, pseudonymizer=Pseudonymizer(b"k" * 32),
        now=time.time, timeout=5.0, max_response_bytes=1 << 20, max_clock_skew=300.0,
        oldest_accepted=0.0,
    )
    return source.poll(ctx), ctx


async def _until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_next_page_is_asked_for_while_the_current_one_is_stored(served) -> None:
    pages, base, session = served
    poll, ctx = _poll(base, session)
    first = await anext(poll)
    # the consumer holds page 0's batch (as the scheduler does while it commits it):
    # page 1 has been asked for meanwhile
    await _until(lambda: pages.asked == [0, 1])
    assert first.cursor == "1" and len(first.events) == PER_PAGE
    rest = [b async for b in poll]
    assert [b.cursor for b in rest] == ["2", "3"]
    assert pages.asked == [0, 1, 2]  # each page once, none beyond the last
    assert ctx.backlog is False


async def test_no_page_is_fetched_beyond_the_page_budget(served) -> None:
    pages, base, session = served
    poll, ctx = _poll(base, session, max_pages=2)
    batches = [b async for b in poll]
    assert [b.cursor for b in batches] == ["1", "2"]
    await asyncio.sleep(0.1)
    assert pages.asked == [0, 1]
    assert ctx.backlog is True


async def test_a_failing_next_page_comes_after_the_page_before_it(served) -> None:
    pages, base, session = served
    pages.fail_page = 1
    poll, _ = _poll(base, session)
    first = await anext(poll)
    assert first.cursor == "1"  # page 0 is handed over (and committed) before the failure
    with pytest.raises(SourceError) as e:
        await anext(poll)
    assert e.value.reason == ErrorReason.http_status


def _fetches() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if ".poll.<locals>.get" in repr(t.get_coro())]


async def test_a_poll_closed_early_cancels_its_fetch_ahead(served) -> None:
    pages, base, session = served
    pages.slow_page = 1
    poll, _ = _poll(base, session)
    await anext(poll)
    await _until(lambda: pages.asked == [0, 1])
    ahead = _fetches()
    assert len(ahead) == 1 and not ahead[0].done()  # page 1 on its way
    await poll.aclose()  # the scheduler ends the poll (a store failure) after page 0
    await asyncio.sleep(0)
    assert ahead[0].cancelled()
    assert pages.asked == [0, 1]
