"""The daemon's findings view of the store: the read-only query connections, and the
cache of recent results (one read however many inspectors open a finding at once)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.daemon.views import StoreFindings
from tapwatch.events import Event, EventType
from tapwatch.exporters.cache import RecentResults
from tapwatch.store.findings import FindingQuery
from tests.unit.test_findings_store import rings_store


def key_of(status: str = "open", last_seen: float = 10.0, fid: str = "f1") -> tuple[str, ...]:
    """A cache key as the findings store makes it."""
    return (fid, status, str(last_seen))


class Reads:
    """A stand-in store read that counts its calls and can be held back or fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail = False

    async def __call__(self) -> tuple[list[Event], str]:
        self.calls += 1
        await self.release.wait()
        if self.fail:
            raise OSError("disk gone")
        ev = Event(app="a", id=f"e{self.calls}", ts=1.0, type=EventType.checkin, account="x")
        return [ev], "raw"


async def test_concurrent_requests_for_one_finding_share_one_read() -> None:
    cache, reads = RecentResults(), Reads()
    waiting = [asyncio.create_task(cache.get(key_of(), reads)) for _ in range(50)]
    await asyncio.sleep(0)
    reads.release.set()
    answers = await asyncio.gather(*waiting)
    assert reads.calls == 1
    assert all(a == answers[0] for a in answers) and answers[0][1] == "raw"


async def test_a_new_status_or_detector_sighting_reads_again_and_entries_expire() -> None:
    now = [0.0]
    cache, reads = RecentResults(ttl_s=60.0, clock=lambda: now[0]), Reads()
    reads.release.set()
    await cache.get(key_of(), reads)
    await cache.get(key_of(), reads)
    assert reads.calls == 1
    await cache.get(key_of(status="confirmed"), reads)  # confirmed: now the held events
    assert reads.calls == 2
    await cache.get(key_of(last_seen=20.0), reads)  # the next detector pass saw it again
    assert reads.calls == 3
    now[0] = 61.0  # raw retention may have pruned its events meanwhile
    await cache.get(key_of(), reads)
    assert reads.calls == 4


async def test_a_failed_read_is_not_remembered_and_the_cache_is_bounded() -> None:
    cache, reads = RecentResults(size=3), Reads()
    reads.release.set()
    reads.fail = True
    with pytest.raises(OSError):
        await cache.get(key_of(), reads)
    reads.fail = False
    assert (await cache.get(key_of(), reads))[1] == "raw"
    assert reads.calls == 2
    for i in range(5):
        await cache.get(key_of(fid=f"other{i}"), reads)
    await cache.get(key_of(), reads)  # pushed out by the five others
    assert reads.calls == 8


async def test_findings_reads_run_on_several_read_only_connections(tmp_path: Path) -> None:
    rings_store(tmp_path).close()
    store = AsyncStore(tmp_path / "store.sqlite", query_readers=3)
    findings = StoreFindings(store)
    threads: set[str] = set()
    gate = threading.Barrier(3, timeout=10)

    def on_reader(s, q):  # type: ignore[no-untyped-def]
        threads.add(threading.current_thread().name)
        gate.wait()  # three reads at once, or this times out
        with pytest.raises(Exception, match="readonly"):
            s._db.execute("DELETE FROM findings")
        from tapwatch.store.findings import query_findings

        return query_findings(s, q)

    try:
        pages = await asyncio.gather(
            *(store.query(on_reader, FindingQuery(kinds=("bulk_checkin",))) for _ in range(3))
        )
        assert len(threads) == 3
        assert [p.total for p in pages] == [3, 3, 3]
        rec = pages[0].records[0]
        page = await findings.evidence(rec, 4, 3)
        assert (page.total, page.offset, page.source, len(page.events)) == (10, 4, "raw", 3)
        assert [e.ts for e in page.events] == sorted(e.ts for e in page.events)
        assert (await findings.get(rec.finding.id)) == rec
    finally:
        store.close()
