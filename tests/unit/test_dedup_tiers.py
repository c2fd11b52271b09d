"""Tiered de-duplication: ids moved from memory to runs on disk stay exact, the memory
bound holds, a restart loads only the memory tier, runs merge and prune a block at a
time, keys are the same in every process."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tapwatch.columns import EventColumns
from tapwatch.events import Event, EventType
from tapwatch.store import dedup_runs, dedup_tiers
from tapwatch.store.dedup import id_keys
from tapwatch.store.dedup_runs import Run
from tapwatch.store.sqlite import IngestBatch, Store

DAY = 86400.0
T0 = 1_780_000_000.0
LIMIT = 2**20  # the smallest the config allows: a few thousand ids in memory


def batch(ids: list[str], ts: float = T0) -> IngestBatch:
    events = [Event(app="x", id=i, ts=ts, type=EventType.read, account="a1") for i in ids]
    return IngestBatch(events=EventColumns.from_events(events))


def ingested(store: Store, ids: list[str], ts: float = T0, app: str = "x") -> tuple[int, int]:
    r = store.ingest(app, batch(ids, ts), T0)
    return r.inserted, r.duplicates


def page(k: int, n: int = 2000) -> list[str]:
    return [f"p{k}-{i}" for i in range(n)]


def test_keys_are_the_same_in_another_process() -> None:
    ids = ["a", "evt-2026-11-30-000001", "é-ünïcode", "x" * 40, ""]
    code = (
        "from tapwatch.store.dedup import id_keys; "
        f"print(id_keys({ids!r}).tolist())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.strip() == str(id_keys(ids).tolist())
    assert len(set(id_keys(ids).tolist())) == len(ids)
    # an id's key is its own, whatever the ids beside it (longer or not)
    assert [id_keys([i]).tolist()[0] for i in ids] == id_keys(ids).tolist()
    assert id_keys(["p1-5"]).tolist() == id_keys(["p1-5", "p1-1999" * 5]).tolist()[:1]


def test_an_id_has_one_key_whatever_the_page_around_it() -> None:
    # pages of one length (read from one buffer), of mixed lengths, with non-ASCII and
    # with NUL bytes (each id encoded on its own): always the key the id has alone
    pool = [
        "", "a", "ab" * 4, "x" * 8, "y" * 9, "é", "中文id-1", "a\0b", "z" * 40,
        *(f"20758-{i:05d}" for i in range(50)), *(f"e{i}" for i in range(50)),
    ]
    alone = {i: id_keys([i]).tolist()[0] for i in pool}
    assert len(set(alone.values())) == len(pool)
    rng = np.random.default_rng(3)
    for _ in range(300):
        ids = [str(i) for i in rng.choice(pool, size=int(rng.integers(1, 40)))]
        assert id_keys(ids).tolist() == [alone[i] for i in ids]
    same_length = [f"20758-{i:05d}" for i in range(50)]
    assert id_keys(same_length).tolist() == [alone[i] for i in same_length]


def test_ids_moved_to_disk_stay_duplicates_and_the_bound_holds(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)
    try:
        for k in range(40):
            assert ingested(store, page(k)) == (2000, 0)
            size = store.dedup_size()
            assert size.memory_tier_bytes + size.filter_bytes <= LIMIT
        size = store.dedup_size()
        assert size.seals > 0 and size.disk_runs >= 1
        assert size.memory_ids + size.disk_ids == 80_000
        # the oldest pages are on disk only; repeats of them are found there, exactly
        sealed = store._db.execute("SELECT ids_sealed_seq FROM apps").fetchone()[0]
        assert sealed >= 2
        again = page(0)[::7] + page(20)[::11] + page(39)[::13] + ["new1", "new2"]
        before = store.dedup_size().disk_lookups
        assert ingested(store, again) == (2, len(again) - 2)
        # a lookup finds an id's batch, whose other ids then need none: 286 ids of page 0
        # cost one (and false "maybe"s of the two new ids one each at most)
        assert 1 <= store.dedup_size().disk_lookups - before <= 4
        assert sorted(store.events("x", 0).ids[-2:]) == ["new1", "new2"]
    finally:
        store.close()


def test_a_restart_loads_only_the_memory_tier(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    first = Store(path, dedup_memory=LIMIT)
    for k in range(40):
        ingested(first, page(k))
    in_memory = first.dedup_size().memory_ids
    first.close()
    again = Store(path, dedup_memory=LIMIT)
    try:
        assert ingested(again, ["p3-5", "p39-1999", "fresh"]) == (1, 2)
        size = again.dedup_size()
        assert size.memory_ids == in_memory + 1 < 80_000  # not the whole horizon
        assert size.disk_ids == 80_000 - in_memory
    finally:
        again.close()


def test_colliding_keys_across_tiers_never_drop_an_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every id gets one of two keys: the runs hold long stretches of equal keys, across
    # blocks, and only the ids themselves tell events apart
    monkeypatch.setattr(dedup_runs, "BLOCK_KEYS", 16)
    monkeypatch.setattr(
        dedup_tiers, "id_keys", lambda ids: np.array([len(i) % 2 for i in ids], np.int64)
    )
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)
    try:
        for k in range(30):
            assert ingested(store, page(k)) == (2000, 0)
        assert store.dedup_size().disk_ids > 0
        assert ingested(store, ["p1-3", "p29-1999", "zz", "zzz", "zz"]) == (2, 3)
        # a key's stretch is never cut between two blocks of a run, and every key
        # sealed is in one of them
        runs: dict[int, list[np.ndarray]] = {}
        for run, b in store._db.execute(
            "SELECT run, keys FROM id_run_blocks ORDER BY run, first_key"
        ):
            runs.setdefault(run, []).append(np.frombuffer(b, np.int64))
        assert all(a[-1] < b[0] for ks in runs.values() for a, b in itertools.pairwise(ks))
        assert sum(k.size for ks in runs.values() for k in ks) == store.dedup_size().disk_ids
    finally:
        store.close()


def test_streaming_merge_keeps_every_entry_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedup_runs, "BLOCK_KEYS", 8)
    store = Store(tmp_path / "s.sqlite")
    db = store._db
    rng = np.random.default_rng(5)
    runs, everything = [], []
    for i in range(5):
        keys = np.sort(rng.integers(-50, 50, 60)).astype(np.int64)
        seqs = np.full(60, i + 1, np.int64)
        runs.append(dedup_runs.write_run(db, 1, i + 1, i + 1, iter([(keys, seqs)])))
        everything += list(zip(keys.tolist(), seqs.tolist(), strict=True))
    merged = dedup_runs.merged(db, 1, runs, live=np.array([1, 2, 4, 5]))
    assert merged is not None and (merged.lo, merged.hi) == (1, 5)
    blocks = list(dedup_runs.blocks_of(db, merged))
    keys = np.concatenate([k for k, _ in blocks])
    seqs = np.concatenate([s for _, s in blocks])
    assert sorted(zip(keys.tolist(), seqs.tolist(), strict=True)) == sorted(
        (k, s) for k, s in everything if s != 3
    )
    assert (np.diff(keys) >= 0).all()
    # no key straddles two blocks, so one block answers for a key
    for (a, _), (b, _) in itertools.pairwise(blocks):
        assert a[-1] < b[0]
    assert db.execute("SELECT COUNT(*) FROM id_runs").fetchone()[0] == 1
    store.close()


def test_pruning_drops_dead_runs_and_forgets_their_ids(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)
    try:
        for k in range(20):  # the first 20 pages 500 days old, the next ones recent
            ingested(store, page(k), ts=T0 - 500 * DAY)
        for k in range(20, 40):
            ingested(store, page(k), ts=T0 - DAY)
        store.fold_rollups(lambda _app: ZoneInfo("UTC"))
        before = store.dedup_size()
        assert before.disk_runs >= 1
        n = store.prune(T0, raw_retention=7 * DAY, rollup_retention=400 * DAY)
        assert n["event_ids"] == 40_000
        after = store.dedup_size()
        assert after.memory_ids + after.disk_ids == 40_000  # the runs lost the dead keys
        runs = store._db.execute("SELECT lo, hi, n FROM id_runs").fetchall()
        assert sum(r[2] for r in runs) == after.disk_ids
        # what is left is still found; what was pruned is past the horizon
        assert ingested(store, ["p25-1", "p39-7", "p3-3"], ts=T0 - DAY) == (1, 2)
    finally:
        store.close()


def test_a_failed_seal_keeps_the_ids_in_memory_and_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)

    def full(*a: object, **k: object) -> Run:
        raise __import__("sqlite3").OperationalError("database or disk is full")

    try:
        with monkeypatch.context() as m, caplog.at_level("WARNING", logger="tapwatch.store"):
            m.setattr(dedup_runs, "write_run", full)
            for k in range(30):
                assert ingested(store, page(k)) == (2000, 0)
        assert store.dedup_size().seal_failures > 0 and "moving ids to disk failed" in caplog.text
        assert store.dedup_size().disk_ids == 0
        assert ingested(store, [*page(0)[:3], "n"]) == (1, 3)
        ingested(store, ["m"])  # seals now
        assert store.dedup_size().disk_ids > 0
        assert ingested(store, page(0)[:3] + page(29)[-3:]) == (0, 6)
    finally:
        store.close()


def test_a_smaller_limit_folds_the_filters_loaded(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    first = Store(path, dedup_memory=8 * LIMIT)
    for k in range(150):
        ingested(first, page(k))
    assert first.dedup_size().filter_bytes > LIMIT // 2
    first.close()
    again = Store(path, dedup_memory=LIMIT)
    try:
        assert ingested(again, ["p0-0", "p149-5", "new"]) == (1, 2)
        assert again.dedup_size().filter_bytes <= LIMIT // 2
    finally:
        again.close()


def test_disk_runs_cover_contiguous_spans(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)
    try:
        for k in range(120):
            ingested(store, page(k, 1000))
        spans = store._db.execute("SELECT lo, hi FROM id_runs ORDER BY lo").fetchall()
        assert spans[0][0] == 1
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
        sealed = store._db.execute("SELECT ids_sealed_seq FROM apps").fetchone()[0]
        assert spans[-1][1] == sealed
        assert len(spans) < 12  # merged as they came
    finally:
        store.close()


def test_the_memory_limit_is_a_size_of_at_least_a_mebibyte() -> None:
    from pydantic import ValidationError

    from tapwatch.config import StoreConfig

    assert StoreConfig().dedup_memory == 64 * 2**20
    assert StoreConfig(dedup_memory="256MiB").dedup_memory == 256 * 2**20
    with pytest.raises(ValidationError, match="greater than or equal to 1048576"):
        StoreConfig(dedup_memory="100KiB")


_KILLED_WRITER = """
import os, signal, sys
from tapwatch.columns import EventColumns
from tapwatch.store import dedup_runs
from tapwatch.events import Event, EventType
from tapwatch.store.sqlite import IngestBatch, Store
if sys.argv[2] == "in_seal":  # die inside a seal's transaction, its run written
    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)
    dedup_runs.compacted = die
store = Store(sys.argv[1], dedup_memory=2**20)
for k in range(10_000):
    ids = [f"p{k}-{i}" for i in range(2000)]
    events = [Event(app="x", id=i, ts=1_780_000_000.0, type=EventType.read, account="a")
              for i in ids]
    store.ingest("x", IngestBatch(events=EventColumns.from_events(events)), 1_780_000_000.0)
    print(k, store.dedup_size().seals, flush=True)
"""


def test_kill_9_while_ids_move_to_disk_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path,
) -> None:
    # a writer that seals every few pages is killed at three points; each time the store
    # must know every stored id (as a duplicate) and hold each once. Each writer starts
    # again from page 0: the pages stored before the kill come back as duplicates
    path = tmp_path / "s.sqlite"
    for kill_after in (23, 41, 64, -1):
        how = "in_seal" if kill_after < 0 else "from_outside"
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_WRITER, str(path), how],
            stdout=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if int(line.split()[0]) >= kill_after >= 0:
                break
        proc.kill()  # SIGKILL: in the middle of whatever the next page was doing
        assert proc.wait() == -9
        store = Store(path, dedup_memory=2**20)
        try:
            stored = store.events("x", 0).ids
            assert len(stored) == len(set(stored))
            view = store._db.execute("SELECT COUNT(*) FROM event_ids").fetchone()[0]
            assert view == len(stored)
            again = stored[::97]
            assert ingested(store, [*again, f"fresh{kill_after}"]) == (1, len(again))
            assert store.dedup_size().disk_ids > 0
        finally:
            store.close()


def test_a_limit_too_small_for_the_fleet_is_said_once_and_seals_nothing_tiny(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)
    try:
        with caplog.at_level("WARNING", logger="tapwatch.store"):
            for a in range(600):  # 600 apps of 300 ids: ~1.4 MiB of small memory tiers
                assert ingested(store, page(a, 300), app=f"app{a}") == (300, 0)
        size = store.dedup_size()
        assert size.seals == 0 and size.memory_ids == 180_000
        assert caplog.text.count("store.dedup_memory (1 MiB) is too small for") == 1
        assert ingested(store, page(7, 300)[:5], app="app7") == (0, 5)
    finally:
        store.close()


def test_a_smaller_limit_on_reload_is_reached_at_once_and_loses_no_id(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path, dedup_memory=8 * LIMIT)
    try:
        for k in range(150):  # two apps, some of their ids on disk already
            ingested(store, page(k), app="x" if k % 3 else "y")
        size = store.dedup_size()
        assert size.filter_bytes > LIMIT // 2 and size.memory_tier_bytes > LIMIT // 2
        seals = size.seals
        size = store.resize_dedup(LIMIT)
        assert size.limit_bytes == LIMIT
        assert size.memory_tier_bytes <= LIMIT // 2 and size.filter_bytes <= LIMIT // 2
        assert size.seals > seals and size.memory_ids + size.disk_ids == 300_000
        # every stored id is still known, in memory or on disk, and new ones go in
        for k in (0, 1, 74, 148, 149):
            app = "x" if k % 3 else "y"
            assert ingested(store, [*page(k)[::97], f"new{k}"], app=app) == (1, 21)
        assert store.dedup_size().memory_tier_bytes <= LIMIT // 2
    finally:
        store.close()
    again = Store(path, dedup_memory=LIMIT)  # and a restart with the new limit agrees
    try:
        assert ingested(again, ["p2-3", "p4-3", "new1", "later"], app="x") == (1, 3)
        assert ingested(again, ["p0-3", "p147-3", "new0", "later"], app="y") == (1, 3)
    finally:
        again.close()


def test_a_bigger_limit_on_reload_lets_more_ids_stay_in_memory(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)
    try:
        for k in range(40):
            ingested(store, page(k))
        before = store.dedup_size()
        assert before.seals > 0
        seals, filter_bytes = before.seals, before.filter_bytes
        size = store.resize_dedup(4 * LIMIT)
        assert size.limit_bytes == 4 * LIMIT and size.seals == seals  # nothing moved
        most = 0
        for k in range(40, 160):
            assert ingested(store, page(k)) == (2000, 0)
            size = store.dedup_size()
            most = max(most, size.memory_tier_bytes)
            assert size.memory_tier_bytes + size.filter_bytes <= 4 * LIMIT
        assert most > 3 * LIMIT // 2  # past the old bound, within the new
        # a seal built the disk tier a filter the old limit had no room for
        assert size.seals > seals and size.filter_bytes > filter_bytes
        assert ingested(store, [*page(0)[:3], *page(150)[:3], "fresh"]) == (1, 6)
    finally:
        store.close()


def test_an_app_that_grows_later_gets_its_share_of_the_filters(tmp_path: Path) -> None:
    # app a fills the filters' half first (its filter built at 32 bits a key); b's ids
    # move to disk afterwards: a's filter gives way, b's is not left at the floor's size
    # (it was 2 KiB for 270,000 ids: every new id of b looked up on disk)
    path = tmp_path / "s.sqlite"
    limit = 4 * LIMIT
    store = Store(path, dedup_memory=limit)
    try:
        for k in range(300):
            ingested(store, page(k), app="a")
        assert store.dedup_size().filter_bytes == limit // 2  # all of it, a's
        for k in range(150):
            ingested(store, [f"b{x}" for x in page(k)], app="b")
        size = store.dedup_size()
        assert size.filter_bytes <= limit // 2 and size.disk_ids > 800_000
        bits = {
            app: 8 * store._dedup._disk[store.app_pk(app)].nbytes
            / store._dedup._disk[store.app_pk(app)].n
            for app in ("a", "b")
        }
        assert min(bits.values()) > 12  # each near or above 16 (at capacity: 0.4 %)
        for app in ("a", "b"):
            prefix = "" if app == "a" else "b"
            before = store.dedup_size().disk_lookups
            fresh = [f"{prefix}{x}" for k in range(1000, 1010) for x in page(k)]
            assert ingested(store, fresh, app=app) == (20_000, 0)
            assert store.dedup_size().disk_lookups - before < 200  # under 1 %
            old = [f"{prefix}{x}" for x in page(0)[::50] + page(77)[::50]]
            assert ingested(store, old, app=app) == (0, len(old))
    finally:
        store.close()
    # the filters were stored as folded: a restart shares the half the same way
    again = Store(path, dedup_memory=limit)
    try:
        for app in ("a", "b"):
            assert ingested(again, ["late"], app=app) == (1, 0)
            tier = again._dedup._disk[again.app_pk(app)]
            assert 8 * tier.nbytes / tier.n == pytest.approx(bits[app], rel=0.01)
    finally:
        again.close()


def test_a_filter_is_stored_and_read_a_slice_at_a_time_as_it_was(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", dedup_memory=LIMIT)
    try:
        db = store._db
        pk = store.app_pk("x")
        # 2.5 slices of random words, and runs for the filter to be loaded with
        words = np.random.default_rng(5).integers(
            0, 2**63, (5 * dedup_runs.FILTER_SLICE // 2) // 8, dtype=np.uint64
        )
        runs = [Run(run=1, lo=1, hi=1, n=3)]
        db.execute("INSERT INTO id_runs(run, app_pk, lo, hi, n) VALUES(1, ?, 1, 1, 3)", (pk,))
        dedup_runs.save_filter(db, pk, dedup_runs.DiskTier(runs, dedup_runs.Bloom(words), 3))
        tier = dedup_runs.load(db, pk)
        assert tier.filled == 3 and tier.bloom is not None
        assert np.array_equal(tier.bloom.words, words)
        tier.bloom.fill(tier.bloom.slots(np.array([7], dtype=np.int64)))  # writable
    finally:
        store.close()
