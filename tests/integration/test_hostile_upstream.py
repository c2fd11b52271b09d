"""The daemon against hostile upstreams, over real sockets: each attack has a bounded cost
and a clear, typed outcome, logged once, and never stops the other apps.

One table: what the upstream serves -> whether the app is up, the failure reason (and a
phrase of its detail in /debug), what was ingested and what rejected, by reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tapwatch.daemon.runtime import Daemon
from tests.integration.conftest import app_entry, wait_for, write_daemon_config

GiB = 2**30


def _event(i: int, **extra: object) -> dict:
    """An event of an hour ago (the suite's clock), with these fields changed."""
    ts = int(time.time()) - 3600 + i
    return {"id": f"e{i}", "ts": ts, "type": "read", "account": f"u{i % 5}", **extra}


def _page(events: list[dict], cursor: str | None = "c1", more: bool = False) -> bytes:
    return json.dumps({"events": events, "next_cursor": cursor, "has_more": more}).encode()


@functools.cache
def _gzip_bomb(size: int) -> bytes:
    """A gzip body that inflates to `size` zero bytes, built from one compressed MiB repeated
    (each block self-contained after a full flush): about 1,000:1."""
    mib = 2**20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * mib) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zero = b"\0" * mib
    for _ in range(size // mib):
        crc = zlib.crc32(zero, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    tail = c.flush(zlib.Z_FINISH)
    trailer = crc.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    return header + block * (size // mib) + tail + trailer


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: bytes) -> Handler:
    async def h(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    return h


def _once(events: Callable[[], list[dict]]) -> Handler:
    """These events on the first page; then, at its cursor, nothing more."""

    async def h(request: web.Request) -> web.StreamResponse:
        evs = [] if request.query.get("cursor") == "c1" else events()
        return web.Response(body=_page(evs), content_type="application/json")

    return h


async def _cycle(request: web.Request) -> web.StreamResponse:
    """A -> B -> A -> ... with has_more true, for ever."""
    nxt = "B" if request.query.get("cursor") != "B" else "A"
    return web.Response(body=_page([_event(1)], nxt, True), content_type="application/json")


async def _drip(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    with contextlib.suppress(ConnectionError, RuntimeError):  # the client gave up
        for b in _page([_event(1)]):
            await resp.write(bytes([b]))
            await asyncio.sleep(0.3)
    return resp


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/apps/plain/v1/events")


async def _twenty_mib(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b" " * (20 * 2**20) + _page([]), content_type="application/json")


async def _bomb(request: web.Request) -> web.StreamResponse:
    return web.Response(
        body=_gzip_bomb(2 * GiB),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


@dataclass
class Case:
    app: str
    events: Handler  # GET /v1/events
    up: int
    reason: str | None = None  # of every failed poll
    detail: str | None = None  # a phrase of the failure's detail in /debug
    ingested: int = 0
    #: rejected events by reason (None: not checked exactly)
    rejected: dict[str, int] | None = field(default_factory=dict)
    usage: Handler | None = None  # GET /v1/usage, when not the plain one


DEEP = b"[" * 200_000 + b"]" * 200_000
CASES = [
    Case("plain", _once(lambda: [_event(i) for i in range(5)]), up=1, ingested=5),
    Case(
        "long-ids",  # 200-character unique ids: refused, never pseudonymised or kept
        _once(lambda: [_event(i, account="a" * 190 + f"{i:010d}") for i in range(50)]
              + [_event(i, id="x" * 200 + str(i)) for i in range(50, 60)] + [_event(60)]),
        up=1, ingested=1, rejected={"too_long": 60},
    ),
    Case(
        "huge-numbers",  # 1e308 seconds of study once reached the pages and made them 500
        _once(lambda: [_event(1, type="study", duration_s=1e308), _event(2, lat=1e308, lon=0),
                       _event(3, ts=1e300), _event(4, ts_ms=-1), _event(5)]),
        up=1, ingested=1, rejected={"invalid_value": 2, "invalid_timestamp": 2},
    ),
    Case(
        "deep-event",  # JSON nested 200k levels in an unknown field of one event
        _json(b'{"events":[{"id":"e1","junk":' + DEEP + b'}],"has_more":false}'),
        up=0, reason="decode", detail="nested too deeply",
    ),
    Case(
        "deep-usage",
        _once(lambda: [_event(1)]),
        usage=_json(b'{"registered_accounts":1,"x":' + DEEP + b"}"),
        up=0, reason="decode", detail="nested too deeply",
    ),
    Case(  # a cursor of a megabyte, to be sent back in a URL and kept with every page
        "long-cursor", _json(_page([_event(1)], cursor="c" * 2**20, more=True)),
        up=0, reason="schema", detail="length <= 1024 - at `$.next_cursor`",
    ),
    Case(  # 1e18 accounts, a release in 1e308 seconds: every ratio downstream breaks
        "huge-usage", _once(lambda: [_event(1)]),
        usage=_json(b'{"registered_accounts":1000000000000000000}'),
        up=0, reason="schema", detail="Expected `int` <= 1000000000",
    ),
    # A -> B -> A ...: once ~30 polls a second for ever with up=1; now cut in each poll
    Case("cycle", _cycle, up=0, reason="schema", detail="cursor cycle", ingested=1,
         rejected=None),
    Case("gzip-bomb", _bomb, up=0, reason="too_large"),  # 2 GiB once inflated
    Case("twenty-mib", _twenty_mib, up=0, reason="too_large"),
    Case("drip", _drip, up=0, reason="timeout"),  # a byte every 0.3 s
    Case("redirect", _redirect, up=0, reason="http_status", detail="HTTP 302"),
]


@pytest.fixture
async def upstream():
    _gzip_bomb(2 * GiB)  # built before serving: it takes a second or two
    hits: dict[str, int] = {}
    by_app = {c.app: c for c in CASES}

    async def usage(request: web.Request) -> web.StreamResponse:
        c = by_app[request.match_info["app"]]
        if c.usage is not None:
            return await c.usage(request)
        return web.json_response({"registered_accounts": 10})

    async def events(request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        hits[app] = hits.get(app, 0) + 1
        return await by_app[app].events(request)

    app = web.Application()
    app.router.add_get("/apps/{app}/v1/usage", usage)
    app.router.add_get("/apps/{app}/v1/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


@pytest.mark.timeout(120)
async def test_each_attack_has_a_bounded_cost_and_a_typed_outcome(
    upstream: tuple[str, dict[str, int]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base, hits = upstream
    entries = [app_entry(c.app, f"{base}/apps/{c.app}") for c in CASES]
    caplog.set_level(logging.INFO)
    collector = {  # the defaults but for the pace: 16 MiB bodies, 1 s timeout
        "default_interval": "0.3s", "default_timeout": "1s", "max_backoff": "1s",
        "max_response_bytes": "16MiB",
    }
    d = Daemon(write_daemon_config(tmp_path, entries, extra={"collector": collector}))
    await d.start()
    try:
        # every app judged, and polled again after that (a state that repeats)
        await wait_for(
            lambda: all(len(d.states[c.app].history) >= 2 for c in CASES), timeout=60
        )
        async with aiohttp.ClientSession() as s:
            debug = {}
            for c in CASES:
                async with s.get(f"http://127.0.0.1:{d.port}/debug/apps/{c.app}") as r:
                    assert r.status == 200
                    debug[c.app] = await r.json()
        cycle_hits = hits.get("cycle", 0)
        await asyncio.sleep(1.0)
        cycle_rate = hits.get("cycle", 0) - cycle_hits
    finally:
        await d.stop()

    for c in CASES:
        st = d.states[c.app]
        assert st.up == c.up, (c.app, debug[c.app]["attempts"][0])
        if c.reason is not None:
            assert set(st.errors) == {c.reason}, (c.app, st.errors)
            last = debug[c.app]["attempts"][0]
            assert (last["ok"], last["reason"]) == (False, c.reason)
            assert c.detail is None or c.detail in last["detail"], last["detail"]
        assert sum(st.ingested.values()) == c.ingested, c.app
        if c.rejected is not None:
            assert {r: n for r, n in st.rejected.items() if n} == c.rejected, c.app
    # the cycle is cut in each poll and backed off, not paged ~30 times a second
    assert d.states["cycle"].rejected["duplicate"] > 0  # what it re-served, counted
    assert cycle_rate <= 10
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text
    # one line per state change: each failing app logged its failure once
    for c in CASES:
        if c.reason is not None:
            lines = [r for r in caplog.records if f"app {c.app}: polling failing" in r.message]
            assert len(lines) == 1, (c.app, [r.message for r in lines])
    # rejected events: one line per reason, not one per poll or event
    rejecting = [r.message for r in caplog.records if "rejecting events" in r.message]
    assert len(rejecting) == 3
    assert [m for m in rejecting if m.startswith("app long-ids:")] == [
        "app long-ids: rejecting events (too_long): Expected `str` of length <= 128 - at "
        "`$.account` (60 in this batch; counts in tapwatch_app_events_rejected_total)"
    ]
