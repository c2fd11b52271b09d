"""Backoff, jitter, sharding, and the poller's bookkeeping."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tapwatch.daemon.runtime import shard_of
from tapwatch.daemon.scheduler import AppState, backoff_delay


def test_backoff_doubles_from_the_interval_up_to_the_cap() -> None:
    delays = [backoff_delay(30, n, 600) for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 480, 600, 600]
    assert backoff_delay(30, 10_000, 600) == 600  # no overflow on long outages


def test_stale_after_three_intervals() -> None:
    st = AppState(interval=30)
    assert st.stale(1000)  # never succeeded
    st.last_success = 1000
    assert not st.stale(1089)
    assert st.stale(1091)


def test_shards_are_stable_disjoint_and_balanced() -> None:
    ids = [f"app-{i:05d}" for i in range(4000)]
    shards = [shard_of(a, 4) for a in ids]
    # stable: a fixed value that does not depend on PYTHONHASHSEED
    assert shard_of("daily-work", 4) == 0  # first 8 bytes of sha256("daily-work") mod 4
    counts = Counter(shards)
    assert set(counts) == {0, 1, 2, 3}
    assert all(800 < n < 1200 for n in counts.values()), counts
    assert all(shard_of(a, 1) == 0 for a in ids[:50])


def test_jitter_spreads_polls() -> None:
    from tapwatch.config import CollectorConfig
    from tapwatch.daemon.scheduler import AppPoller

    p = AppPoller.__new__(AppPoller)
    p.collector = CollectorConfig(jitter=0.2)
    p.rng = random.Random(7)
    delays = [p._jittered(30.0) for _ in range(500)]
    assert min(delays) >= 24.0 and max(delays) <= 36.0
    assert max(delays) - min(delays) > 10  # actually spread, not constant


@pytest.mark.parametrize("total", [2, 3, 7])
def test_every_app_belongs_to_exactly_one_shard(total: int) -> None:
    for i in range(200):
        s = shard_of(f"x{i}", total)
        assert 0 <= s < total


def test_merged_pages_keep_the_later_cursor_and_every_count() -> None:
    from collections import Counter

    from tapwatch.columns import EventColumns
    from tapwatch.daemon.scheduler import merge_batches
    from tapwatch.detectors.base import UsageSnapshot
    from tapwatch.events import Event, EventType
    from tapwatch.store.sqlite import IngestBatch

    def cols(ids: range, account: str) -> EventColumns:
        return EventColumns.from_events(
            Event(app="a", id=str(i), ts=float(i), type=EventType.read, account=account)
            for i in ids
        )

    snap = UsageSnapshot(at=1.0, registered_accounts=5)
    a = IngestBatch(events=cols(range(2), "x"), rejected=Counter(missing_field=1), cursor="p1",
                    snapshot=snap)
    b = IngestBatch(events=cols(range(2, 3), "y"), rejected=Counter(missing_field=2, too_old=1),
                    cursor="p2")
    m = merge_batches([a, b])
    assert m.events.ids == ["0", "1", "2"]
    assert [m.events.accounts[c] for c in m.events.account] == ["x", "x", "y"]
    assert m.rejected == Counter(missing_field=3, too_old=1)
    assert (m.cursor, m.snapshot, m.file_done) == ("p2", snap, None)
    assert a.rejected == Counter(missing_field=1)  # the inputs are left as they were
    end = merge_batches([a, b, IngestBatch(file_done=("f.jsonl", 10), cursor=None)])
    assert (end.cursor, end.file_done) == ("p2", ("f.jsonl", 10))
