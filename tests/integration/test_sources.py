"""File drops and Prometheus-text sources, end to end through the daemon and the store."""

from __future__ import annotations

import json
import time
from pathlib import Path

from aiohttp import web

from tapwatch.config import FileSourceConfig
from tapwatch.daemon.runtime import Daemon
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import PollContext
from tapwatch.sources.files import FileDropSource
from tapwatch.store.sqlite import Store
from tests.integration.conftest import (
    app_entry,
    sample,
    scrape,
    wait_for,
    write_daemon_config,
)

NOW = time.time()


def _jsonl(path: Path, start: int, n: int) -> None:
    with path.open("w") as f:
        for i in range(start, start + n):
            f.write(json.dumps({"id": f"f{i}", "ts": NOW - 3600 + i, "type": "form_submit",
                                "account": f"acct-{i % 4}", "unit": "town-1"}) + "\n")


async def test_file_drops_are_ingested_once(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    drops.mkdir()
    _jsonl(drops / "2026-11-01.jsonl", 0, 30)
    (drops / "2026-11-02.csv").write_text(
        "id,ts,type,account,duration_s\n"
        + "".join(f"c{i},{NOW - 100 + i},study,acct-{i},{60 + i}\n" for i in range(10))
        + "bad,yesterday,study,acct-x,\n"
    )
    _jsonl(drops / "partial.jsonl.tmp", 100, 5)  # still being written: ignored
    entry = app_entry("drops", "http://unused", source={"kind": "file", "path": str(drops),
                                                        "interval": "0.2s"})
    d = Daemon(write_daemon_config(tmp_path, [entry]))
    await d.start()
    try:
        st = d.states["drops"]
        await wait_for(lambda: sum(st.ingested.values()) == 40)
        assert st.rejected["invalid_timestamp"] == 1
        # a new drop is picked up; a rewritten old one is not read again
        _jsonl(drops / "2026-11-03.jsonl", 200, 5)
        _jsonl(drops / "2026-11-01.jsonl", 300, 7)
        await wait_for(lambda: sum(st.ingested.values()) == 45)
        await wait_for(lambda: len(st.history) > 8)
        assert sum(st.ingested.values()) == 45
    finally:
        await d.stop()


async def test_file_drop_resumes_mid_file_after_a_crash(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    drops.mkdir()
    _jsonl(drops / "a.jsonl", 0, 25)
    store = Store(tmp_path / "s.sqlite")
    src = FileDropSource(FileSourceConfig(kind="file", path=drops), chunk=10)

    def ctx() -> PollContext:
        return PollContext(app_id="d", session=None, pseudonymizer=Pseudonymizer(b"k" * 32),
                           now=time.time, timeout=1, max_response_bytes=1 << 20,
                           max_clock_skew=600, oldest_accepted=0, cursor=store.cursor("d"),
                           files_done=store.files_done("d"))

    gen = src.poll(ctx())
    store.ingest("d", await gen.__anext__(), NOW)  # first 10 committed...
    await gen.aclose()  # ...then the process dies
    assert json.loads(store.cursor("d")) == {"file": "a.jsonl", "records": 10}
    async for batch in src.poll(ctx()):
        r = store.ingest("d", batch, NOW)
        assert r.duplicates == 0  # resumed exactly where it stopped
    assert len(store.events("d", 0)) == 25
    assert store.files_done("d") == {"a.jsonl"}
    assert [b async for b in src.poll(ctx())] == []  # nothing left to read
    store.close()


async def test_prometheus_text_source(tmp_path: Path) -> None:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            text="# TYPE hall_users gauge\nhall_users{office=\"a\"} 300\nhall_users{office=\"b\"}"
                 " 200\n# TYPE hall_active_30d gauge\nhall_active_30d 120\n",
            content_type="text/plain",
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    entry = app_entry("hall", "http://unused", source={
        "kind": "prometheus", "url": f"http://127.0.0.1:{port}/metrics",
        "metrics": {"registered_accounts": "hall_users", "active_accounts_30d": "hall_active_30d"},
    })
    d = Daemon(write_daemon_config(tmp_path, [entry]))
    await d.start()
    try:
        await wait_for(lambda: d.states["hall"].up == 1)
        await d.detect_once()
        await d.render_metrics()
        text = await scrape(d.port)
    finally:
        await d.stop()
        await runner.cleanup()
    assert sample(text, "tapwatch_app_registered_accounts", app="hall") == 500
    # no events from this app: its own figure is exported
    assert sample(text, "tapwatch_app_active_accounts", app="hall", window="30d") == 120


async def test_two_shards_split_the_fleet(tmp_path: Path) -> None:
    entries = [app_entry(f"app-{i}", f"http://127.0.0.1:1/{i}") for i in range(12)]
    cfg = write_daemon_config(tmp_path, entries)
    daemons = [Daemon(cfg, shard=s, total_shards=2) for s in (0, 1)]
    polled = [{a.id for a in d.my_apps()} for d in daemons]
    assert polled[0].isdisjoint(polled[1])
    assert polled[0] | polled[1] == {e["id"] for e in entries}
    assert polled[0] and polled[1]
