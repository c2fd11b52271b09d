"""The daemon's store-health state: one log line per change of state, failed writes counted,
waiters woken on recovery; and AsyncStore keeping away from a store that fails."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tapwatch.daemon import store_health
from tapwatch.daemon.store_health import StoreHealth
from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.store.health import StoreError, StoreFault

PATH = Path("/var/lib/tapwatch/store.sqlite")


def _err(fault: StoreFault, detail: str = "x") -> StoreError:
    return StoreError(fault, PATH, detail)


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "tapwatch.store"]


async def test_one_line_per_change_of_state(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tapwatch.store")
    now = [1000.0]
    changes: list[bool] = []
    h = StoreHealth(PATH, on_change=lambda: changes.append(h.healthy), clock=lambda: now[0])
    assert h.healthy and h.fault is None
    for _ in range(3):  # the same failure, again and again: said once
        h.failed(_err(StoreFault.full, "database or disk is full (SQLITE_FULL)"), write=True)
    now[0] += 30
    h.failed(_err(StoreFault.readonly, "store.sqlite is on a read-only filesystem"), write=True)
    h.failed(_err(StoreFault.readonly), write=False)  # a refused read: not a failed write
    now[0] += 12
    h.recovered()
    h.recovered()  # already healthy: nothing to say
    assert _lines(caplog) == [
        ("ERROR", f"store {PATH}: full: database or disk is full (SQLITE_FULL). Polls wait "
                  "and resume from their last stored position: nothing is lost. To do: free "
                  "space on the store's filesystem (tapwatch cannot prune while it is full: "
                  "deleting needs log space too); writing resumes by itself."),
        ("ERROR", f"store {PATH}: readonly: store.sqlite is on a read-only filesystem. Polls "
                  "wait and resume from their last stored position: nothing is lost. To do: "
                  "make the store files and their directory writable by tapwatch "
                  "(permissions, `chattr -i`, a read-only mount); writing resumes by itself."),
        ("INFO", f"store {PATH} takes writes again after 42 s (readonly, 4 failed writes); "
                 "polls resume"),
    ]
    assert h.write_failures == {StoreFault.full: 3, StoreFault.readonly: 1}
    assert changes == [False, False, True]
    assert h.healthy and h.since is None


@pytest.mark.parametrize(
    ("fault", "probed", "refuses_reads", "then"),
    [
        (StoreFault.readonly, True, True, "writing resumes by itself"),
        (StoreFault.full, True, False, "writing resumes by itself"),
        (StoreFault.locked, True, False, "writing resumes by itself"),
        (StoreFault.io, False, True, "then restart tapwatch"),
        (StoreFault.corrupt, False, False, "then restart tapwatch"),
    ],
)
def test_what_each_fault_allows(
    fault: StoreFault, probed: bool, refuses_reads: bool, then: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = StoreHealth(PATH)
    h.failed(_err(fault), write=True)
    assert (h.probed, h.refuses_reads) == (probed, refuses_reads)
    assert _lines(caplog)[0][1].endswith(f"; {then}.")


async def test_waiters_wake_on_recovery() -> None:
    h = StoreHealth(PATH)
    await asyncio.wait_for(h.wait_healthy(), 1)  # healthy: at once
    h.failed(_err(StoreFault.full), write=True)
    waiter = asyncio.create_task(h.wait_healthy())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    h.recovered()
    await asyncio.wait_for(waiter, 1)


async def test_a_failing_store_is_not_touched_and_recovers_by_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_health, "PROBE_INTERVAL_S", 0.05)
    monkeypatch.setattr("tapwatch.daemon.store_thread.PROBE_INTERVAL_S", 0.05)
    s = AsyncStore(tmp_path / "s.sqlite")
    calls: list[str] = []

    def write() -> str:
        calls.append("write")
        return "done"

    try:
        # a full store, as SQLite reports it: marks the store failing
        cap = s.writer._db.execute("PRAGMA page_count").fetchone()[0]
        await s.write(s.writer._db.execute, f"PRAGMA max_page_count={cap}")
        with pytest.raises(StoreError) as e:
            await s.write(s.writer.probe_write, 1.0)
        assert e.value.fault is StoreFault.full and s.health.fault is StoreFault.full
        # refused without running: neither writes nor the probe get through
        with pytest.raises(StoreError):
            await s.write(write)
        await asyncio.sleep(0.3)
        assert calls == [] and not s.health.healthy
        assert s.health.write_failures[StoreFault.full] >= 3  # the first, and probes
        # reads still run on a full store
        assert await s.read(lambda: "read") == "read"
        # room again: the next probe finds it
        s._wpool.submit(s.writer._db.execute, f"PRAGMA max_page_count={cap + 1000}").result()
        await asyncio.wait_for(s.health.wait_healthy(), 2)
        assert await s.write(write) == "done"
    finally:
        s.close()


async def test_a_new_store_in_a_directory_yet_to_be_made_opens(tmp_path: Path) -> None:
    s = AsyncStore(tmp_path / "var/lib/tapwatch/s.sqlite")
    try:
        assert await s.write(s.writer.probe_write, 1.0) is None
        assert s.health.healthy
    finally:
        s.close()
