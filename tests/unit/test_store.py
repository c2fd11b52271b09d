"""The store: idempotent ingest, atomic cursor, rollups, retention."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tapwatch.columns import EventColumns
from tapwatch.events import Event, EventType
from tapwatch.store.sqlite import SCHEMA_VERSION, IngestBatch, Store
from tests.unit.store_formats import body_v2

TZ = ZoneInfo("Asia/Shanghai")
DAY = 86400.0
T0 = 1_780_000_000.0


def ev(i: int, ts: float, t: EventType = EventType.read, acct: str = "a1") -> Event:
    return Event(app="x", id=f"e{i}", ts=ts, type=t, account=acct)


def stored(events: list[Event], **kw: object) -> IngestBatch:
    return IngestBatch(events=EventColumns.from_events(events), **kw)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s.sqlite")
    yield s
    s.close()


def test_ingest_is_idempotent_by_id(store: Store) -> None:
    batch = [ev(i, T0 + i) for i in range(10)]
    r1 = store.ingest("x", stored(events=batch, cursor="c1"), T0)
    r2 = store.ingest(
        "x", stored(events=[*batch[5:], ev(10, T0 + 10), ev(10, T0 + 10)], cursor="c2"), T0
    )
    assert (r1.inserted, r1.duplicates) == (10, 0)
    assert (r2.inserted, r2.duplicates) == (1, 6)  # 5 stored before + 1 repeated in-batch
    assert len(store.events("x", 0)) == 11
    assert store.cursor("x") == "c2"
    assert store.counters("x") == {("ingested", "read"): 11, ("rejected", "duplicate"): 6}


def test_ids_are_per_app(store: Store) -> None:
    store.ingest("x", stored(events=[ev(1, T0)]), T0)
    r = store.ingest("y", stored(events=[ev(1, T0)]), T0)
    assert r.inserted == 1


def test_failed_transaction_keeps_old_cursor(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.ingest("x", stored(events=[ev(1, T0)], cursor="c1"), T0)

    def boom(*a: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(EventColumns, "encode", boom)
    with pytest.raises(RuntimeError):
        store.ingest("x", stored(events=[ev(2, T0 + 1)], cursor="c2"), T0)
    assert store.cursor("x") == "c1"
    assert len(store.events("x", 0)) == 1  # nothing of the failed batch is stored
    assert store.counters("x") == {("ingested", "read"): 1}


def test_a_failed_fold_folds_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.ingest("x", stored(events=[ev(1, T0), ev(2, T0 + 60)]), T0)

    def boom(*a: object) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(Store, "_add_rollups", staticmethod(boom))
        with pytest.raises(RuntimeError):
            store.fold_rollups(lambda _app: TZ)
    assert store.rollup_seq("x") == 0 and len(store.account_days("x", 0)) == 0
    assert store.fold_rollups(lambda _app: TZ) == 2  # the next fold does it, once
    assert store.rollup_seq("x") == store.last_batch("x")
    assert list(store.account_days("x", 0).events) == [2]


def _count_transactions(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """From now on count the store's transactions; returns how many were opened so far."""
    opened = 0
    tx = Store._tx

    def counted(self: Store):  # type: ignore[no-untyped-def]
        nonlocal opened
        opened += 1
        return tx(self)

    monkeypatch.setattr(Store, "_tx", counted)
    return lambda: opened


def test_a_fold_in_small_transactions_folds_every_batch_once(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog folded a few events per transaction ends with the rollups one fold of it
    all gives, in as many transactions as it takes and no empty one after the last."""
    for k in range(5):
        for s in (store, other := Store(tmp_path / "one.sqlite")):
            s.ingest("x", stored(events=[ev(10 * k + i, T0 + 3600 * k + i) for i in range(3)]), T0)
            if s is other:
                s.close()
    one = Store(tmp_path / "one.sqlite")
    opened = _count_transactions(monkeypatch)
    assert store.fold_rollups(lambda _app: TZ, max_events=4) == 15
    assert opened() == 3  # 6 + 6 + 3 events: after a short transaction, none more
    assert one.fold_rollups(lambda _app: TZ) == 15
    assert store.fold_rollups(lambda _app: TZ, max_events=4) == 0
    mine, theirs = store.account_days("x", 0), one.account_days("x", 0)
    assert mine.events.tolist() == theirs.events.tolist() and int(mine.events.sum()) == 15
    assert store.rollup_seq("x") == store.last_batch("x")
    one.close()


def test_apps_folds_share_transactions_and_a_failed_one_folds_none_of_them(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few new events of many apps are folded in one transaction until it holds
    `max_events`; a failure in it leaves every app in it unfolded, folded once later."""
    for k, app in enumerate(("a", "b", "c")):
        store.ingest(app, stored(events=[ev(10 * k + i, T0 + 60 * i) for i in range(2)]), T0)
    calls = 0
    add = Store._add_rollups

    def second_fails(*a: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        add(*a)  # type: ignore[arg-type]

    with monkeypatch.context() as m:
        m.setattr(Store, "_add_rollups", staticmethod(second_fails))
        with pytest.raises(RuntimeError):
            store.fold_rollups(lambda _app: TZ, max_events=4)
    assert [store.rollup_seq(a) for a in ("a", "b", "c")] == [0, 0, 0]
    assert len(store.account_days("a", 0)) == 0  # the first app's fold rolled back too
    opened = _count_transactions(monkeypatch)
    assert store.fold_rollups(lambda _app: TZ, max_events=4) == 6
    assert opened() == 2  # a and b (4 events), then c
    assert store.fold_rollups(lambda _app: TZ, max_events=4) == 0
    for app in ("a", "b", "c"):
        assert store.rollup_seq(app) == store.last_batch(app)
        assert store.account_days(app, 0).events.tolist() == [2]


def test_rollups_merge_across_batches(store: Store) -> None:
    local_midnight = T0 - (T0 + 8 * 3600) % DAY  # 00:00 Asia/Shanghai
    a = [
        ev(1, local_midnight + 9 * 3600, EventType.form_submit),
        ev(2, local_midnight + 10 * 3600, EventType.checkin),
    ]
    b = [ev(3, local_midnight + 8 * 3600, EventType.study), ev(4, local_midnight + DAY + 60)]
    store.ingest("x", stored(events=a), T0)
    store.ingest("x", stored(events=b), T0)
    assert len(store.account_days("x", 0)) == 0  # rollups are folded later, in bulk
    assert store.fold_rollups(lambda _app: TZ) == 4
    assert store.fold_rollups(lambda _app: TZ) == 0  # nothing folded twice
    ad = store.account_days("x", 0)
    assert len(ad) == 2
    assert list(ad.events) == [3, 1]
    assert list(ad.meaningful) == [1, 0] and list(ad.checkin) == [1, 0]
    assert list(ad.first_s) == [8 * 3600, 60] and list(ad.last_s) == [10 * 3600, 60]
    hours = store.app_hours("x", 0)
    assert int(hours.count.sum()) == 4
    assert sorted(hours.hour.tolist()) == [0, 8, 9, 10]


def test_prune_follows_retention(store: Store) -> None:
    old = [ev(i, T0 - 10 * DAY + i) for i in range(5)]
    new = [ev(i + 5, T0 - DAY + i) for i in range(5)]
    store.ingest("x", stored(events=old), T0)
    store.ingest("x", stored(events=new), T0)
    n = store.prune(T0, raw_retention=7 * DAY, rollup_retention=400 * DAY)
    assert n["event_batches"] == 0  # not folded into the rollups yet: kept
    store.fold_rollups(lambda _app: TZ)
    n = store.prune(T0, raw_retention=7 * DAY, rollup_retention=400 * DAY)
    assert n["event_batches"] == 1
    assert sorted(store.events("x", 0).ids) == [f"e{i}" for i in range(5, 10)]
    # ids outlive raw events: a re-sent old event is still a duplicate
    r = store.ingest("x", stored(events=old[:1]), T0)
    assert r.duplicates == 1
    n = store.prune(T0 + 402 * DAY, raw_retention=7 * DAY, rollup_retention=400 * DAY)
    assert n["event_ids"] == 10 and n["account_days"] == 2


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    """A store written before columnar batches: its batches (a msgpack list of events
    each) are read, they count as rolled up already (version 1 rolled up on ingest), and
    the per-id day index goes."""
    import sqlite3

    import msgspec

    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES('schema_version', '1');
        CREATE TABLE apps(pk INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, first_data_at REAL);
        INSERT INTO apps(pk, id) VALUES(1, 'x');
        CREATE TABLE event_ids(app_pk INTEGER NOT NULL, eid TEXT NOT NULL, day INTEGER NOT NULL,
          PRIMARY KEY(app_pk, eid)) WITHOUT ROWID;
        CREATE INDEX event_ids_day ON event_ids(day);
        CREATE TABLE event_batches(seq INTEGER PRIMARY KEY AUTOINCREMENT,
          app_pk INTEGER NOT NULL, min_ts REAL NOT NULL, max_ts REAL NOT NULL,
          n INTEGER NOT NULL, body BLOB NOT NULL);
        """
    )
    old = [ev(1, T0), ev(2, T0 + 5, EventType.checkin)]
    db.execute(
        "INSERT INTO event_batches(app_pk, min_ts, max_ts, n, body) VALUES(1, ?, ?, 2, ?)",
        (T0, T0 + 5, msgspec.msgpack.encode(old)),
    )
    db.commit()
    db.close()
    store = Store(path)
    try:
        assert store.rollup_seq("x") == store.last_batch("x") == 1
        assert store.fold_rollups(lambda _app: TZ) == 0
        assert store.events("x", 0).to_events("x") == old
        indexes = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master")}
        assert "event_ids_day" not in indexes
        r = store.ingest("x", stored(events=[ev(3, T0 + 9)]), T0)
        assert r.inserted == 1 and len(store.events("x", 0)) == 3
        schema = store._db.execute("SELECT value FROM meta WHERE key='schema_version'")
        assert schema.fetchone()[0] == str(SCHEMA_VERSION)
    finally:
        store.close()


def test_a_slice_of_a_batch_is_stored_with_only_its_strings(store: Store) -> None:
    # 12 events, one account each; a slice of two (or the one new event among known ones)
    # must not carry the other accounts into the stored batch
    whole = EventColumns.from_events([ev(i, T0 + i, acct=f"a{i}") for i in range(12)])
    store.ingest("x", IngestBatch(events=whole.select(np.array([3, 7]))), T0)
    store.ingest("x", IngestBatch(events=whole.select(np.array([3, 7, 9]))), T0)
    batches, _ = store.batches_after("x", 0)
    assert [list(b.ids) for b in batches] == [["e3", "e7"], ["e9"]]
    assert [sorted(b.accounts) for b in batches] == [["a3", "a7"], ["a9"]]


def test_a_store_of_full_width_bodies_reads_back_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches written in the second body format (every column at full width) stay as
    they are: after a restart on this version they read back as stored, beside new
    batches in the narrow format, and their ids still drop what is sent again."""

    def batch(lo: int, hi: int) -> list[Event]:
        return [
            Event(
                app="x",
                id=f"e{i}",
                ts=T0 + i,
                type=EventType.checkin,
                account=f"a{i % 7}",
                device=f"d{i % 300}",
                target="t" if i % 9 == 0 else None,
                duration_s=float(i) if i % 31 == 0 else None,
            )
            for i in range(lo, hi)
        ]

    path = tmp_path / "v2.sqlite"
    old = [batch(0, 400), batch(400, 900)]
    with monkeypatch.context() as m:
        m.setattr(EventColumns, "encode", body_v2)
        s = Store(path)
        for b in old:
            s.ingest("x", stored(b), T0)
        s.close()
    s = Store(path)
    try:
        bodies = [r[0][:4] for r in s._db.execute("SELECT body FROM event_batches ORDER BY seq")]
        assert bodies == [b"TWC2", b"TWC2"]
        r = s.ingest("x", stored([*old[1][-50:], *batch(900, 1200)]), T0)
        assert (r.inserted, r.duplicates) == (300, 50)
        batches, _ = s.batches_after("x", 0)
        assert [b.to_events("x") for b in batches] == [*old, batch(900, 1200)]
        new_body = s._db.execute("SELECT body FROM event_batches ORDER BY seq DESC").fetchone()[0]
        assert new_body[:4] == b"TWC3"
        assert len(new_body) < len(body_v2(batches[2]))
        assert sorted(s.events("x", 0).to_events("x"), key=lambda e: e.ts) == batch(0, 1200)
        assert s.fold_rollups(lambda _app: TZ) == 1200
    finally:
        s.close()


def test_a_new_store_has_16_kib_pages_and_an_existing_one_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new store is made with PAGE_SIZE pages, and checkpoints its log at about
    CHECKPOINT_BYTES; a store made with 4 KiB pages keeps them (SQLite never changes a
    WAL store's page size), checkpoints at the same bytes, and reads back what it held."""
    from tapwatch.store import connection

    def pragma(s: Store, name: str) -> int:
        return s._db.execute(f"PRAGMA {name}").fetchone()[0]

    new = Store(tmp_path / "new.sqlite")
    try:
        assert pragma(new, "page_size") == connection.PAGE_SIZE == 16384
        assert pragma(new, "wal_autocheckpoint") == connection.CHECKPOINT_BYTES // 16384
    finally:
        new.close()
    path = tmp_path / "old.sqlite"
    old = [ev(i, T0 + i, acct=f"a{i % 5}") for i in range(300)]
    with monkeypatch.context() as m:
        m.setattr(connection, "PAGE_SIZE", 4096)
        s = Store(path)
        s.ingest("x", stored(old, cursor="c1"), T0)
        s.close()
    s = Store(path)
    try:
        assert pragma(s, "page_size") == 4096
        assert pragma(s, "wal_autocheckpoint") == connection.CHECKPOINT_BYTES // 4096
        assert s.events("x", 0).to_events("x") == old and s.cursor("x") == "c1"
        r = s.ingest("x", stored([*old[-10:], ev(300, T0 + 300)]), T0)
        assert (r.inserted, r.duplicates) == (1, 10)
    finally:
        s.close()
