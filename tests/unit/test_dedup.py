"""De-duplication's memory tier and the store around it: exact whatever the keys, kept in
step with the commits, loaded again after a restart, a prune or another connection's
writes, and a version 2 store's id rows moved (the disk tier: test_dedup_tiers.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tapwatch.columns import EventColumns
from tapwatch.events import Event, EventType
from tapwatch.store import dedup, dedup_tiers
from tapwatch.store.dedup import IdIndex
from tapwatch.store.sqlite import SCHEMA_VERSION, IngestBatch, Store

DAY = 86400.0
T0 = 1_780_000_000.0


def batch(ids: list[str], ts: float = T0, cursor: str | None = None) -> IngestBatch:
    events = [Event(app="x", id=i, ts=ts, type=EventType.read, account="a1") for i in ids]
    return IngestBatch(events=EventColumns.from_events(events), cursor=cursor)


def ingested(store: Store, ids: list[str], ts: float = T0) -> tuple[int, int]:
    r = store.ingest("x", batch(ids, ts), T0)
    return r.inserted, r.duplicates


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s.sqlite")
    yield s
    s.close()


def random_pages(seed: int, pages: int, size: int) -> tuple[IdIndex, list[np.ndarray]]:
    """An index of `pages` pages of random keys, page i (from 1) stored in batch i."""
    rng = np.random.default_rng(seed)
    index = IdIndex()
    keys = [rng.integers(-(2**63), 2**63 - 1, size, dtype=np.int64) for _ in range(pages)]
    for seq, page in enumerate(keys, 1):
        index.add(page, seq, index.probe(page)[1])
    return index, keys


def test_the_index_finds_every_stored_key_across_merges_and_growth() -> None:
    index, pages = random_pages(7, 200, 1000)
    rng = np.random.default_rng(8)
    assert len(index) == 200_000  # past the first filter's capacity: it grew
    for seq in (1, 77, 200):
        assert index.probe(pages[seq - 1])[0].all()  # no stored key is ever missed
        assert index.batches_of(pages[seq - 1][:5]).tolist() == [seq]
    fresh = rng.integers(-(2**63), 2**63 - 1, 100_000, dtype=np.int64)
    assert index.probe(fresh)[0].mean() < 0.01  # the filter rules out almost all new keys
    assert index.batches_of(fresh[:100]).size == 0


@pytest.mark.parametrize("slice_keys", [1, 7, 1 << 16])
def test_runs_merge_a_key_range_at_a_time_as_one_sort_would(
    monkeypatch: pytest.MonkeyPatch, slice_keys: int
) -> None:
    # ranges cut at every few keys of the biggest run, cuts falling inside runs of one
    # key: the result is the stable sort of the runs one after another
    monkeypatch.setattr(dedup, "FILL_SLICE", slice_keys)
    rng = np.random.default_rng(11)
    sizes = [300, 40, 0, 1, 120, 300, 5, 77]
    runs = [np.sort(rng.integers(-50, 50, n)).astype(np.int64) for n in sizes]
    seqs = [np.full(n, i, dtype=np.uint32) for i, n in enumerate(sizes)]
    keys, got = dedup.merged_runs(runs, seqs)
    order = np.argsort(np.concatenate(runs), kind="stable")
    assert keys.tolist() == np.concatenate(runs)[order].tolist()
    assert got.tolist() == np.concatenate(seqs)[order].tolist()
    assert got.dtype == np.uint32


def test_equal_keys_in_several_batches_name_them_all() -> None:
    index = IdIndex()
    for seq in (3, 5, 9):
        keys = np.array([42, seq], dtype=np.int64)
        index.add(keys, seq, index.probe(keys)[1])
    assert index.batches_of(np.array([42], dtype=np.int64)).tolist() == [3, 5, 9]
    loaded = IdIndex(np.array([42, 42, 7, 42]), np.array([3, 5, 5, 8]))
    assert loaded.batches_of(np.array([7, 42], dtype=np.int64)).tolist() == [3, 5, 8]
    merged = IdIndex()  # ten batches sharing a key, eight of them merged into one run
    for seq in range(1, 11):
        keys = np.array([-5, seq * 1000, 42], dtype=np.int64)
        merged.add(keys, seq, merged.probe(keys)[1])
    assert merged.batches_of(np.array([42, 3000], dtype=np.int64)).tolist() == list(range(1, 11))


def test_seqs_spanning_more_than_32_bits_are_kept_exactly() -> None:
    # ids moved from a version 2 store have negative seqs; a long-lived store's seqs grow
    index = IdIndex(np.array([1, 2], dtype=np.int64), np.array([-3, -1]))
    for seq, key in ((5, 3), (2**32 + 10, 4), (2**40, 5)):
        keys = np.array([key], dtype=np.int64)
        index.add(keys, seq, index.probe(keys)[1])
    found = index.batches_of(np.arange(1, 6, dtype=np.int64)).tolist()
    assert found == [-3, -1, 5, 2**32 + 10, 2**40]
    index.forget(np.array([-1, 2**32 + 10]))
    assert index.batches_of(np.arange(1, 6, dtype=np.int64)).tolist() == [-3, 5, 2**40]


def test_forgotten_batches_leave_the_index_and_its_filter() -> None:
    index, pages = random_pages(3, 20, 500)
    index.forget(np.arange(1, 11))
    assert len(index) == 5000
    assert index.probe(pages[10])[0].all() and index.batches_of(pages[19]).tolist() == [20]
    gone = np.concatenate(pages[:10])
    assert index.batches_of(gone).size == 0
    assert index.probe(gone)[0].mean() < 0.01  # the filter was refilled without them


def test_colliding_keys_never_drop_an_event(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # every id gets the same key: only the ids themselves can tell them apart
    monkeypatch.setattr(dedup_tiers, "id_keys", lambda ids: np.zeros(len(ids), np.int64))
    assert ingested(store, ["a", "b", "c"]) == (3, 0)
    assert ingested(store, ["d", "a", "e", "e", "f"]) == (3, 2)
    assert ingested(store, ["g"]) == (1, 0)
    assert sorted(store.events("x", 0).ids) == ["a", "b", "c", "d", "e", "f", "g"]


def test_a_failed_transaction_leaves_the_index_as_it_was(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ingested(store, ["a"]) == (1, 0)

    def boom(*a: object) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(EventColumns, "encode", boom)
        with pytest.raises(RuntimeError):
            store.ingest("x", batch(["b", "c"]), T0)
    assert ingested(store, ["b", "c", "a"]) == (2, 1)


def test_a_restarted_store_knows_every_stored_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.sqlite"
    first = Store(path)
    ingested(first, [f"e{i}" for i in range(3000)])
    first.close()
    again = Store(path)
    monkeypatch.setattr(dedup_tiers.time, "process_time", iter([0.0, 2.0]).__next__)
    try:
        with caplog.at_level("INFO", logger="tapwatch.store"):
            assert ingested(again, ["e5", "e2999", "new"]) == (1, 2)
        assert "app x: de-duplication tiers loaded in 2.0 s of CPU (3000 ids" in caplog.text
        assert again.dedup_size().memory_ids == 3001
        types = again._db.execute("SELECT DISTINCT typeof(ids) FROM event_id_batches")
        assert types.fetchall() == [("text",)]  # JSON as text, never read as JSONB
        assert again._db.execute("SELECT COUNT(*) FROM event_ids").fetchone()[0] == 3001
    finally:
        again.close()


def test_an_index_is_loaded_without_holding_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.sqlite"
    first = Store(path)
    ingested(first, ["a", "b"])
    first.close()
    writes = []

    def load(*args: object) -> IdIndex:
        # the detector pass's process writes while the daemon loads a big index
        other = sqlite3.connect(path, timeout=0)
        with other:
            other.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('probe', 'x')")
        other.close()
        writes.append(len(args))
        return IdIndex(*args)

    monkeypatch.setattr(dedup_tiers, "IdIndex", load)
    again = Store(path)
    try:
        assert ingested(again, ["a", "c"]) == (1, 1)
        assert 2 in writes  # the index of the stored ids was built, the write went through
    finally:
        again.close()


def test_ids_stored_by_another_connection_are_known(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "s.sqlite"), Store(tmp_path / "s.sqlite")
    try:
        assert ingested(b, ["b1"]) == (1, 0)  # b's index is loaded now
        assert ingested(a, ["a1", "a2"]) == (2, 0)
        assert ingested(b, ["a1", "a2", "b1", "b2"]) == (1, 3)
        assert ingested(a, ["b2"]) == (0, 1)
    finally:
        a.close()
        b.close()


def test_pruned_ids_are_forgotten_and_the_rest_kept(store: Store) -> None:
    assert ingested(store, ["old1", "old2"], ts=T0 - 500 * DAY) == (2, 0)
    assert ingested(store, ["new1"], ts=T0 - DAY) == (1, 0)
    store.fold_rollups(lambda _app: ZoneInfo("UTC"))
    n = store.prune(T0, raw_retention=7 * DAY, rollup_retention=400 * DAY)
    assert n["event_ids"] == 2
    assert store._db.execute("SELECT COUNT(*) FROM event_ids").fetchone()[0] == 1
    assert store.dedup_size().memory_ids == 1  # the loaded index let them go too
    # old1 is past the rollup retention now (the normaliser rejects such events as
    # too_old before they reach the store); new1 is still a duplicate
    assert ingested(store, ["old1", "new1"], ts=T0 - DAY) == (1, 1)


def test_a_version_2_store_has_its_id_rows_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v2.sqlite"
    old = Store(path)
    ingested(old, ["kept"])
    old.close()
    # what version 2 wrote: a row per id in event_ids, no id batches
    db = sqlite3.connect(path)
    db.executescript(
        """
        DROP VIEW event_ids;
        DELETE FROM event_id_batches;
        CREATE TABLE event_ids(app_pk INTEGER NOT NULL, eid TEXT NOT NULL, day INTEGER NOT NULL,
          PRIMARY KEY(app_pk, eid)) WITHOUT ROWID;
        UPDATE meta SET value='2' WHERE key='schema_version';
        """
    )
    day = int(T0 // DAY)
    db.executemany(
        "INSERT INTO event_ids VALUES(1, ?, ?)",
        [("kept", day)] + [(f"v{i}", day - i % 3) for i in range(10)],
    )
    db.commit()
    db.close()
    monkeypatch.setattr("tapwatch.store.dedup_upgrade.MOVED_IDS_PER_ROW", 4)
    store = Store(path)
    try:
        rows = store._db.execute("SELECT seq, day FROM event_id_batches ORDER BY seq").fetchall()
        assert all(seq < 0 for seq, _ in rows) and {d for _, d in rows} == {day, day - 1, day - 2}
        assert len(rows) == 4  # days of 5, 3 and 3 ids, at most 4 a row
        # all moved ids are on disk (none loaded into memory), in runs with a filter
        assert store._db.execute("SELECT SUM(n) FROM id_runs").fetchone()[0] == 11
        assert store._db.execute("SELECT COUNT(*) FROM id_filters").fetchone()[0] == 1
        tables = {r[0]: r[1] for r in store._db.execute("SELECT name, type FROM sqlite_master")}
        assert tables["event_ids"] == "view"
        version = store._db.execute("SELECT value FROM meta WHERE key='schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)
        assert ingested(store, ["kept", "v0", "v9", "fresh"]) == (1, 3)
        assert store.dedup_size().memory_ids == 1 and store.dedup_size().disk_ids == 11
        # "kept" and "v0" share their moved row (the ids of a day in key order): one
        # lookup finds both, "v9" needs its own
        assert store.dedup_size().disk_lookups == 2
    finally:
        store.close()

