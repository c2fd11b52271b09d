"""store.dedup_memory on reload: applied at once on the store's writer thread (the other
store keys only on restart, said key by key), or kept while the store cannot be written."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tapwatch.daemon.runtime import Daemon
from tapwatch.store.health import StoreError, StoreFault
from tests.integration.conftest import app_entry, sample, scrape, wait_for, write_daemon_config
from tests.integration.fakeapps import FakeApp, FakeFleet

MIB = 2**20


@pytest.fixture
async def fleet():
    f = FakeFleet([FakeApp("good-a", n_events=300)])
    await f.start()
    yield f
    await f.stop()


def _config(tmp_path: Path, fleet: FakeFleet, **store: str) -> Path:
    path = str(tmp_path / "store.sqlite")
    return write_daemon_config(
        tmp_path, [app_entry("good-a", fleet.url("good-a"))],
        extra={"store": {"path": path, **store}},
    )


@pytest.fixture
async def d(fleet: FakeFleet, tmp_path: Path):
    """A daemon started with store.dedup_memory 8MiB, stopped after the test."""
    daemon = Daemon(_config(tmp_path, fleet, dedup_memory="8MiB"))
    await daemon.start()
    yield daemon
    await daemon.stop()


async def _reload(d: Daemon) -> int:
    url = f"http://127.0.0.1:{d.port}/-/reload"
    async with aiohttp.ClientSession() as s, s.post(url) as r:
        return r.status


async def test_a_changed_dedup_memory_applies_on_reload_and_other_store_keys_wait(
    d: Daemon, fleet: FakeFleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await wait_for(lambda: sum(d.states["good-a"].ingested.values()) >= 300)
    _config(tmp_path, fleet, dedup_memory="2MiB", raw_retention="3d")
    with caplog.at_level("INFO", logger="tapwatch.daemon"):
        assert await _reload(d) == 200
    assert "reload: store.dedup_memory 8.0 MiB -> 2.0 MiB" in caplog.text
    assert "reload: store.raw_retention changes only on restart" in caplog.text
    assert "store.path" not in caplog.text and "store.dedup_memory changes" not in caplog.text
    store = d.config.daemon.store
    assert store.dedup_memory == 2 * MIB and store.raw_retention == 7 * 86400
    assert d.dedup_size().limit_bytes == 2 * MIB
    await d.render_metrics()
    assert sample(await scrape(d.port), "tapwatch_dedup_memory_limit_bytes") == 2 * MIB
    # the ids stored under the old limit are still known: a poll from the start again
    # stores nothing twice
    before = sum(d.states["good-a"].ingested.values())
    assert d.states["good-a"].rejected["duplicate"] == 0
    await d.store.write(d.store.writer._db.execute, "DELETE FROM cursors")
    polls = len(d.states["good-a"].history)
    await wait_for(lambda: len(d.states["good-a"].history) >= polls + 3)
    assert sum(d.states["good-a"].ingested.values()) == before
    assert d.states["good-a"].rejected["duplicate"] >= 300


async def test_a_dedup_memory_the_store_cannot_take_now_is_kept_and_said(
    d: Daemon, fleet: FakeFleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    real_write = d.store.write

    async def refused(fn, *args):  # the store refuses writes (a full disk)
        if getattr(fn, "__name__", "") == "resize_dedup":
            raise StoreError(StoreFault.full, d.store.path, "no space left on device")
        return await real_write(fn, *args)

    d.store.write = refused  # type: ignore[method-assign]
    _config(tmp_path, fleet, dedup_memory="2MiB")
    with caplog.at_level("WARNING", logger="tapwatch.daemon"):
        assert await _reload(d) == 200
    assert "store.dedup_memory stays 8.0 MiB: the store cannot be written" in caplog.text
    assert d.config.daemon.store.dedup_memory == 8 * MIB
    assert d.dedup_size().limit_bytes == 8 * MIB
    # once it can, the next reload applies it
    d.store.write = real_write  # type: ignore[method-assign]
    assert await _reload(d) == 200
    assert d.config.daemon.store.dedup_memory == 2 * MIB == d.dedup_size().limit_bytes
