"""Source URLs over real sockets: a query string (an upstream's `api_key`) reaches the app
intact on every request, and never appears in the debug view or the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from tapwatch.daemon.runtime import Daemon
from tests.integration.conftest import app_entry, wait_for, write_daemon_config
from tests.integration.fakeapps import FakeApp, FakeFleet

KEY = "s3cr%2Ft+k3y"  # percent-encoded '/', a '+': both must arrive as written


async def test_query_strings_are_kept_and_never_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = FakeFleet([FakeApp("keyed", n_events=45), FakeApp("keyed-500", mode="http_500")])
    await fleet.start()
    entries = [
        app_entry(a, f"{fleet.url(a)}/?api_key={KEY}&region=r1") for a in ("keyed", "keyed-500")
    ]
    caplog.set_level(logging.DEBUG)
    d = Daemon(write_daemon_config(tmp_path, entries))
    await d.start()
    try:
        await wait_for(
            lambda: sum(d.states["keyed"].ingested.values()) == 45
            and len(d.states["keyed-500"].history) >= 2
        )
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{d.port}/debug/apps/keyed-500") as r:
                debug = await r.text()
            async with s.get(f"http://127.0.0.1:{d.port}/debug/apps") as r:
                debug += await r.text()
    finally:
        await d.stop()
        await fleet.stop()
    paths = fleet.apps["keyed"].raw_paths
    usage = [p for p in paths if p.startswith("/apps/keyed/v1/usage")]
    events = [p for p in paths if p.startswith("/apps/keyed/v1/events")]
    assert usage and events and len(usage) + len(events) == len(paths)
    assert all(p == f"/apps/keyed/v1/usage?api_key={KEY}&region=r1" for p in usage)
    first = f"/apps/keyed/v1/events?api_key={KEY}&region=r1&limit="
    assert all(p.startswith(first) for p in events)
    assert any("&cursor=" in p for p in events)  # paging parameters come after the app's own
    assert "HTTP 500 from http://127.0.0.1:" in debug  # the failure is shown ...
    assert "/apps/keyed-500/v1/usage" in debug
    for text in (debug, caplog.text):
        assert "s3cr" not in text and "api_key" not in text  # ... but not the key
