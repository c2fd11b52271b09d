"""The daemon against deliberately broken apps, over real sockets: none disturbs the
others, and each failure is visible in metrics."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tapwatch.daemon.runtime import Daemon
from tests.integration.conftest import app_entry, sample, scrape, wait_for, write_daemon_config
from tests.integration.fakeapps import FakeApp, FakeFleet

EXPECTED_REASON = {
    "down": "connect",
    "slow": "timeout",
    "http_500": "http_status",
    "garbage": "decode",
    "huge": "too_large",
    "wrong_content_type": "decode",
    "auth": "auth",
    "rate_limited": "rate_limited",
}


@pytest.fixture
async def fleet():
    apps = [FakeApp("good-a"), FakeApp("good-b", n_events=120)]
    apps += [FakeApp(f"broken-{m.replace('_', '-')}", mode=m) for m in EXPECTED_REASON]
    apps += [
        FakeApp("dup-ids", mode="duplicate_ids"),
        FakeApp("backwards", mode="cursor_backwards"),
        FakeApp("skewed", mode="skewed_clock"),
        FakeApp("bad-events", mode="bad_events"),
    ]
    f = FakeFleet(apps)
    await f.start()
    yield f
    await f.stop()


async def test_broken_apps_do_not_disturb_the_others(fleet: FakeFleet, tmp_path: Path) -> None:
    entries = [app_entry(a, fleet.url(a)) for a in fleet.apps]
    d = Daemon(write_daemon_config(tmp_path, entries))
    await d.start()
    try:
        good = ("good-a", "good-b", "dup-ids", "backwards", "bad-events")
        await wait_for(
            lambda: all(sum(d.states[a].ingested.values()) >= 40 for a in good)
            and all(d.states[f"broken-{m.replace('_', '-')}"].errors for m in EXPECTED_REASON),
            timeout=20,
        )
        await wait_for(lambda: sum(d.states["good-b"].ingested.values()) == 120)
        await d.render_metrics()
        text = await scrape(d.port)
    finally:
        await d.stop()

    # healthy apps: everything stored once, up
    assert sum(d.states["good-a"].ingested.values()) == 50
    assert sample(text, "tapwatch_app_up", app="good-a") == 1
    assert sample(text, "tapwatch_app_events_ingested_total", app="good-a", type="checkin") == 13
    # each broken app: down, with the right typed reason
    for mode, reason in EXPECTED_REASON.items():
        app = f"broken-{mode.replace('_', '-')}"
        assert sample(text, "tapwatch_app_up", app=app) == 0, app
        assert (sample(text, "tapwatch_app_scrape_errors_total", app=app, reason=reason) or 0) >= 1
    # duplicates and backwards cursors: every event once, repeats counted as duplicates
    for app in ("dup-ids", "backwards"):
        assert sum(d.states[app].ingested.values()) == 50, app
    assert sample(text, "tapwatch_app_events_rejected_total", app="dup-ids", reason="duplicate") > 0
    # skewed clock: events two hours in the future are rejected, visibly
    assert sum(d.states["skewed"].ingested.values()) == 0
    assert sample(text, "tapwatch_app_events_rejected_total", app="skewed",
                  reason="future_timestamp") == 50
    # bad events are rejected alone, the rest of their page is stored
    assert sum(d.states["bad-events"].ingested.values()) == 40
    assert sample(text, "tapwatch_app_events_rejected_total", app="bad-events",
                  reason="invalid_timestamp") == 10


async def test_raw_ids_never_reach_store_or_metrics(fleet: FakeFleet, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    d = Daemon(write_daemon_config(tmp_path, [app_entry("good-a", fleet.url("good-a"))]))
    await d.start()
    try:
        await wait_for(lambda: sum(d.states["good-a"].ingested.values()) == 50)
        await d.render_metrics()
        text = await scrape(d.port)
    finally:
        await d.stop()
    raw = [*fleet.apps["good-a"].raw_accounts, "raw-device-0", "raw-device-1"]
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite*"))
    for r in raw:
        assert r.encode() not in blob
        assert r not in text
        assert r not in caplog.text
    # the accounts are there, pseudonymised
    db = sqlite3.connect(tmp_path / "store.sqlite")
    n = db.execute("SELECT COUNT(DISTINCT account) FROM account_days").fetchone()[0]
    assert n == 7


async def test_reload_adds_and_removes_apps_and_keeps_last_good(
    fleet: FakeFleet, tmp_path: Path
) -> None:
    cfg = write_daemon_config(tmp_path, [app_entry("good-a", fleet.url("good-a"))])
    d = Daemon(cfg)
    await d.start()
    try:
        await wait_for(lambda: d.states["good-a"].up == 1)
        # add good-b, remove good-a, via POST /-/reload
        write_daemon_config(tmp_path, [app_entry("good-b", fleet.url("good-b"))])
        async with aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{d.port}/-/reload") as r:
                assert r.status == 200
            await wait_for(lambda: d.states.get("good-b") is not None
                           and d.states["good-b"].up == 1)
            await d.render_metrics()
            text = await scrape(d.port)
            assert sample(text, "tapwatch_app_up", app="good-b") == 1
            assert 'app="good-a"' not in text  # its series are dropped
            assert sample(text, "tapwatch_config_last_reload_successful") == 1
            # a broken config is refused; the last good one stays in use
            cfg.write_text(cfg.read_text().replace("intended_users: 100", "intended_users: -1"))
            async with s.post(f"http://127.0.0.1:{d.port}/-/reload") as r:
                assert r.status == 500
                body = await r.json()
            assert any("intended_users" in e for e in body["errors"])
            await d.render_metrics()
            text = await scrape(d.port)
            assert sample(text, "tapwatch_config_last_reload_successful") == 0
            assert "good-b" in d.pollers
            # a changed registry entry shows at once, even for an app whose state did not
            write_daemon_config(
                tmp_path, [app_entry("good-b", fleet.url("good-b"), owner="New Owner Unit")]
            )
            async with s.post(f"http://127.0.0.1:{d.port}/-/reload") as r:
                assert r.status == 200
            await d.render_metrics()
            text = await scrape(d.port)
            assert 'owner="New Owner Unit"' in text and 'owner="Demo Unit"' not in text
    finally:
        await d.stop()


async def test_polls_do_not_wait_for_a_slow_app(fleet: FakeFleet, tmp_path: Path) -> None:
    entries = [app_entry("good-a", fleet.url("good-a")),
               app_entry("broken-slow", fleet.url("broken-slow"))]
    d = Daemon(write_daemon_config(tmp_path, entries))
    await d.start()
    try:
        await asyncio.sleep(3)
    finally:
        await d.stop()
    # the slow app times out after 1 s per attempt; the good app kept its 0.3 s rhythm
    assert len(d.states["good-a"].history) >= 5
    assert all(a.reason == "timeout" for a in d.states["broken-slow"].history)
