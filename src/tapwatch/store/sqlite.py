"""Embedded SQLite store: cursors, event ids, raw events, daily rollups, findings.

A batch arrives as columns (`EventColumns`, one page or a few) and is written with a
handful of statements whatever its size: its ids in one `INSERT ... SELECT FROM json_each`,
its events as one row (the columns, `EventColumns.encode`), its counters per type and
reason. The daily rollups are derived from the stored batches later, many batches at a
time (`fold_rollups`, run by the detector pass in its own process): ingest never pays for
the per-(day, account) upserts, and each app's `rollup_seq` says which batches are folded
in (a batch is pruned only once it is).

Durability contract: a batch's events, their ids, rollups, counters and the cursor that
covers them commit in ONE transaction. A `kill -9` at any moment either keeps the whole
batch and the advanced cursor, or neither; on restart the collector re-fetches from the
stored cursor and the id table drops what was already stored. Nothing lost, nothing twice.

WAL with synchronous=NORMAL survives a process crash (the case above); an OS crash may lose
the last transactions, which are then fetched again from the older cursor.
"""

from __future__ import annotations

import ctypes
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from tapwatch.columns import EventColumns
from tapwatch.detectors.base import AccountDay, ArticleDay, DailyUsage, Finding, UsageSnapshot
from tapwatch.detectors.merge import merge_findings
from tapwatch.events import EventType
from tapwatch.window import (
    DAY,
    AccountDays,
    AppHours,
    EventWindow,
    rollup,
)

#: 2: event batches hold columns (EventColumns.encode), rollups are folded from them later
#: (apps.rollup_seq), event ids have no day index. A version 1 store is upgraded on open
#: (its batches were rolled up on ingest; their bodies are still read).
SCHEMA_VERSION = 2
#: events folded into rollups per transaction (the write lock is held that long)
FOLD_EVENTS = 50_000
#: event ids examined per prune run (a slice of the table; the next run goes on from there)
PRUNE_IDS = 1_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- rollup_seq: the app's event batches up to this seq are folded into the rollups
CREATE TABLE IF NOT EXISTS apps(
  pk INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, first_data_at REAL,
  rollup_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cursors(
  app_pk INTEGER PRIMARY KEY, cursor TEXT NOT NULL, updated_at REAL NOT NULL);
-- day: the last UTC day of the id's batch. No index on it (it would double the cost of
-- every insert): pruning walks the table a bounded slice at a time (see prune).
CREATE TABLE IF NOT EXISTS event_ids(
  app_pk INTEGER NOT NULL, eid TEXT NOT NULL, day INTEGER NOT NULL,
  PRIMARY KEY(app_pk, eid)) WITHOUT ROWID;
-- Raw events are stored a batch per row (its columns, EventColumns.encode): one B-tree
-- insert per batch instead of per event. Pruned when the whole batch is older than raw retention.
-- seq never reuses a number, so "batches after seq N" is exact for incremental readers.
CREATE TABLE IF NOT EXISTS event_batches(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, app_pk INTEGER NOT NULL, min_ts REAL NOT NULL,
  max_ts REAL NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS event_batches_app_ts ON event_batches(app_pk, max_ts);
-- Evidence of confirmed findings outlives raw retention: copied here on confirmation.
CREATE TABLE IF NOT EXISTS held_events(
  finding_id TEXT NOT NULL, app_pk INTEGER NOT NULL, eid TEXT NOT NULL, body BLOB NOT NULL,
  PRIMARY KEY(finding_id, app_pk, eid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_days(
  app_pk INTEGER NOT NULL, day INTEGER NOT NULL, account TEXT NOT NULL,
  n INTEGER, meaningful INTEGER, checkin INTEGER, read INTEGER, "like" INTEGER,
  study INTEGER, session INTEGER, study_s REAL, first_s REAL, last_s REAL,
  PRIMARY KEY(app_pk, day, account)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS app_hours(
  app_pk INTEGER NOT NULL, day INTEGER NOT NULL, hour INTEGER NOT NULL,
  type INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(app_pk, day, hour, type)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters(
  app_pk INTEGER NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY(app_pk, name, label)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots(
  app_pk INTEGER PRIMARY KEY, at REAL NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files_done(
  app_pk INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER, done_at REAL,
  PRIMARY KEY(app_pk, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS findings(
  id TEXT PRIMARY KEY, app TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  score REAL NOT NULL, window_start REAL NOT NULL, window_end REAL NOT NULL,
  first_seen REAL NOT NULL, last_seen REAL NOT NULL,
  status TEXT NOT NULL DEFAULT 'open', body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS findings_app_kind ON findings(app, kind);
-- The other apps a cross-app finding is about (findings.app holds the one it is filed
-- under): each app's lists, counts and alerts include it.
CREATE TABLE IF NOT EXISTS finding_apps(
  app TEXT NOT NULL, finding_id TEXT NOT NULL, PRIMARY KEY(app, finding_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS finding_apps_id ON finding_apps(finding_id);
CREATE TABLE IF NOT EXISTS finding_audit(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, finding_id TEXT NOT NULL, at REAL NOT NULL,
  actor TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL, reason TEXT);
"""

_finding_enc = msgspec.json.Encoder()
_finding_dec = msgspec.json.Decoder(Finding)
_snap_enc = msgspec.msgpack.Encoder()
_TYPE_NAMES = [t.name for t in EventType]
_ids_enc = msgspec.json.Encoder()


@dataclass(slots=True)
class IngestBatch:
    """What one fetch produced for one app, committed atomically."""

    events: EventColumns = field(default_factory=EventColumns.empty)
    rejected: Counter[str] = field(default_factory=Counter)
    cursor: str | None = None  # the position after these events (None: unchanged)
    snapshot: UsageSnapshot | None = None
    file_done: tuple[str, int] | None = None  # (file name, size) fully ingested
    #: platform records read but not stored as events, by SkipReason (counted, persisted)
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class IngestResult:
    inserted: int
    duplicates: int
    by_type: Counter[str]


class Store:
    """Synchronous store over one SQLite connection. Not thread-safe by itself: the
    daemon drives it from one dedicated thread (see AsyncStore)."""

    def __init__(self, path: Path | str, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._app_pk: dict[str, int] = {}
        self._lock = threading.RLock()
        if readonly:  # a reader in another process: never writes, not even the schema
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                check_same_thread=False,
            )
            return
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.execute("PRAGMA cache_size=-65536")
        self._db.executescript(_SCHEMA)
        self._upgrade()

    def close(self) -> None:
        self._db.close()

    def _upgrade(self) -> None:
        """Bring a store of an earlier version to this one (nothing is written to a store
        that is up to date: a second connection may open it while the first writes)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and int(row[0]) >= SCHEMA_VERSION:
            return
        with self._tx() as db:
            columns = {r[1] for r in db.execute("PRAGMA table_info(apps)")}
            if "rollup_seq" not in columns:
                db.execute("ALTER TABLE apps ADD COLUMN rollup_seq INTEGER NOT NULL DEFAULT 0")
                # version 1 rolled every batch up on ingest
                db.execute(
                    "UPDATE apps SET rollup_seq=COALESCE((SELECT MAX(seq) FROM event_batches "
                    "WHERE app_pk=apps.pk), 0)"
                )
            db.execute("DROP INDEX IF EXISTS event_ids_day")
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:  # a rollback that failed earlier (I/O error)
                self._db.execute("ROLLBACK")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk): only
                # roll back what is open, and never hide the error that got us here
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def consistent_read(self) -> Iterator[None]:
        """Reads inside see one snapshot of the store (WAL), whatever commits meanwhile."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def probe_write(self, now: float) -> None:
        """A write through the whole write path (lock, new pages, log, index, commit):
        raises what the store raises while it refuses writes. It takes 64 KiB of new pages
        and gives them back in the same transaction (they stay free for later writes), so
        a store that has no room to grow does not pass on a write that fits in a page."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('write_probe', zeroblob(65536))"
            )
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('write_probe', ?)", (repr(now),)
            )

    def leave_open(self) -> None:
        """Never close this connection, not even when the process ends.

        For a store whose files refuse writes: closing the last connection checkpoints the
        write-ahead log, which writes to the memory-mapped index, and the kernel answers
        that with SIGBUS. Left open, the OS releases the files at exit and SQLite recovers
        the log at the next start, as after a crash. (An extra reference keeps Python's
        finalisation from closing it.)"""
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self._db))

    def app_pk(self, app_id: str) -> int:
        """The app's key in this store, created on first use (a read-only store answers
        -1 for an app with no data yet, which matches no rows)."""
        pk = self._app_pk.get(app_id)
        if pk is not None:
            return pk
        with self._lock:
            if not self.readonly:
                self._db.execute("INSERT OR IGNORE INTO apps(id) VALUES(?)", (app_id,))
            row = self._db.execute("SELECT pk FROM apps WHERE id=?", (app_id,)).fetchone()
        if row is None:
            return -1
        self._app_pk[app_id] = row[0]
        return row[0]

    # ---- ingest ------------------------------------------------------------------

    def cursor(self, app_id: str) -> str | None:
        row = self._db.execute(
            "SELECT cursor FROM cursors WHERE app_pk=?", (self.app_pk(app_id),)
        ).fetchone()
        return row[0] if row else None

    def files_done(self, app_id: str) -> set[str]:
        rows = self._db.execute(
            "SELECT name FROM files_done WHERE app_pk=?", (self.app_pk(app_id),)
        )
        return {r[0] for r in rows}

    def ingest(self, app_id: str, batch: IngestBatch, now: float) -> IngestResult:
        """Store a batch and advance the cursor in one transaction (idempotent by id)."""
        pk = self.app_pk(app_id)
        with self._tx() as db:
            fresh = self._store_ids(db, pk, batch.events)
            dups = len(batch.events) - len(fresh)
            by_type: Counter[str] = Counter()
            if len(fresh):
                if len(fresh.accounts) > len(fresh) or len(fresh.strings) > 8 * len(fresh):
                    # a part of a bigger batch (duplicates left out, a slice): stored with
                    # only the strings it uses, or every read of it pays for the rest
                    fresh = fresh.compacted()
                for t, k in enumerate(np.bincount(fresh.type).tolist()):
                    if k:
                        by_type[_TYPE_NAMES[t]] = k
                db.execute(
                    "INSERT INTO event_batches(app_pk, min_ts, max_ts, n, body) "
                    "VALUES(?,?,?,?,?)",
                    (pk, float(fresh.ts.min()), float(fresh.ts.max()), len(fresh), fresh.encode()),
                )
                db.execute(
                    "UPDATE apps SET first_data_at=COALESCE(MIN(first_data_at, ?), ?) WHERE pk=?",
                    (now, now, pk),
                )
            counts = [(pk, "ingested", t, n) for t, n in by_type.items()]
            rejected = batch.rejected.copy()
            if dups:
                rejected["duplicate"] += dups
            counts += [(pk, "rejected", r, n) for r, n in rejected.items() if n]
            counts += [(pk, "skipped", r, n) for r, n in batch.skipped.items() if n]
            if counts:
                db.executemany(
                    "INSERT INTO counters(app_pk, name, label, value) VALUES(?,?,?,?) "
                    "ON CONFLICT(app_pk, name, label) DO UPDATE SET value=value+excluded.value",
                    counts,
                )
            if batch.cursor is not None:
                db.execute(
                    "INSERT INTO cursors(app_pk, cursor, updated_at) VALUES(?,?,?) "
                    "ON CONFLICT(app_pk) DO UPDATE SET cursor=excluded.cursor, "
                    "updated_at=excluded.updated_at",
                    (pk, batch.cursor, now),
                )
            if batch.snapshot is not None:
                db.execute(
                    "INSERT OR REPLACE INTO snapshots(app_pk, at, body) VALUES(?,?,?)",
                    (pk, batch.snapshot.at, _snap_enc.encode(_snapshot_dict(batch.snapshot))),
                )
                if batch.snapshot.registered_accounts is not None:
                    db.execute(
                        "UPDATE apps SET first_data_at=COALESCE(MIN(first_data_at, ?), ?) "
                        "WHERE pk=?",
                        (now, now, pk),
                    )
            if batch.file_done is not None:
                db.execute(
                    "INSERT OR REPLACE INTO files_done(app_pk, name, size, done_at) "
                    "VALUES(?,?,?,?)",
                    (pk, batch.file_done[0], batch.file_done[1], now),
                )
        return IngestResult(inserted=len(fresh), duplicates=dups, by_type=by_type)

    @staticmethod
    def _store_ids(db: sqlite3.Connection, pk: int, events: EventColumns) -> EventColumns:
        """Record the ids of the batch's new events; returns those events (neither stored
        before nor repeated earlier in the batch).

        The ids go in with one statement (a JSON array expanded by SQLite). Most batches
        hold only new ids, so they are inserted straight away; if any turns out to be known
        or repeated, that insert is undone and the batch sorted out by a lookup. Each id is
        kept with the batch's last UTC day, for pruning after the rollup retention."""
        n = len(events)
        if n == 0:
            return events
        day = int(events.ts.max() // DAY)
        insert = (
            "INSERT OR IGNORE INTO event_ids(app_pk, eid, day) SELECT ?, value, ? "
            "FROM json_each(?)"
        )
        ids = _ids_enc.encode(events.ids)
        db.execute("SAVEPOINT batch_ids")
        before = db.total_changes
        db.execute(insert, (pk, day, ids))
        all_new = db.total_changes - before == n
        if not all_new:
            db.execute("ROLLBACK TO batch_ids")
        db.execute("RELEASE batch_ids")
        if all_new:
            return events
        seen = {
            r[0]
            for r in db.execute(
                "SELECT e.eid FROM json_each(?) j JOIN event_ids e "
                "ON e.app_pk=? AND e.eid=j.value",
                (ids, pk),
            )
        }
        keep = []
        for i, eid in enumerate(events.ids):
            if eid not in seen:
                seen.add(eid)
                keep.append(i)
        fresh = events.select(np.array(keep, dtype=np.int64))
        if len(fresh):
            db.execute(insert, (pk, day, _ids_enc.encode(fresh.ids)))
        return fresh

    # ---- rollups ------------------------------------------------------------------

    def fold_rollups(
        self, tz_of: Callable[[str], ZoneInfo], max_events: int = FOLD_EVENTS
    ) -> int:
        """Fold the batches stored since the last fold into the daily rollups, every app,
        up to `max_events` per transaction (with the app's `rollup_seq`, so a crash folds
        nothing twice). `tz_of(app id)` gives the time zone of the app's local days.
        Returns the events folded."""
        folded = 0
        apps = self._db.execute(
            "SELECT a.pk, a.id, a.rollup_seq FROM apps a WHERE EXISTS (SELECT 1 FROM "
            "event_batches b WHERE b.app_pk=a.pk AND b.seq>a.rollup_seq)"
        ).fetchall()
        for pk, app_id, seq in apps:
            tz = tz_of(app_id)
            while True:
                with self._tx() as db:
                    batches, n = [], 0
                    for s, size, body in db.execute(
                        "SELECT seq, n, body FROM event_batches WHERE app_pk=? AND seq>? "
                        "ORDER BY seq",
                        (pk, seq),
                    ):
                        batches.append(EventColumns.decode(body))
                        seq, n = s, n + size
                        if n >= max_events:
                            break
                    if not batches:
                        break
                    self._add_rollups(db, pk, EventColumns.concat(batches), tz)
                    db.execute("UPDATE apps SET rollup_seq=? WHERE pk=?", (seq, pk))
                folded += n
        return folded

    def rollup_seq(self, app_id: str) -> int:
        """The app's last batch folded into the rollups (0: none)."""
        row = self._db.execute(
            "SELECT rollup_seq FROM apps WHERE pk=?", (self.app_pk(app_id),)
        ).fetchone()
        return row[0] if row else 0

    def earliest_between(self, app_id: str, after: int, upto: int) -> float | None:
        """The earliest event time among the app's batches after seq `after` up to `upto`."""
        row = self._db.execute(
            "SELECT MIN(min_ts) FROM event_batches WHERE app_pk=? AND seq>? AND seq<=?",
            (self.app_pk(app_id), after, upto),
        ).fetchone()
        return row[0]

    @staticmethod
    def _add_rollups(
        db: sqlite3.Connection, pk: int, events: EventColumns, tz: ZoneInfo
    ) -> None:
        acc, hours = rollup(events, tz)
        names = acc.accounts
        db.executemany(
            "INSERT INTO account_days(app_pk, day, account, n, meaningful, checkin, read, "
            '"like", study, session, study_s, first_s, last_s) '
            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(app_pk, day, account) DO UPDATE SET n=n+excluded.n, "
            "meaningful=meaningful+excluded.meaningful, checkin=checkin+excluded.checkin, "
            'read=read+excluded.read, "like"="like"+excluded."like", '
            "study=study+excluded.study, session=session+excluded.session, "
            "study_s=study_s+excluded.study_s, first_s=MIN(first_s, excluded.first_s), "
            "last_s=MAX(last_s, excluded.last_s)",
            zip(
                repeat(pk),
                acc.day.tolist(),
                [names[a] for a in acc.account.tolist()],
                *(getattr(acc, f).tolist() for f in AccountDays._COLUMNS[2:]),
            ),
        )
        db.executemany(
            "INSERT INTO app_hours(app_pk, day, hour, type, n) VALUES(?,?,?,?,?) "
            "ON CONFLICT(app_pk, day, hour, type) DO UPDATE SET n=n+excluded.n",
            zip(
                repeat(pk),
                hours.day.tolist(),
                hours.hour.tolist(),
                hours.type.tolist(),
                hours.count.tolist(),
            ),
        )

    # ---- reads for detectors and metrics -----------------------------------------

    def counters(self, app_id: str) -> dict[tuple[str, str], float]:
        rows = self._db.execute(
            "SELECT name, label, value FROM counters WHERE app_pk=?", (self.app_pk(app_id),)
        )
        return {(n, lbl): v for n, lbl, v in rows}

    def events(self, app_id: str, since: float, until: float | None = None) -> EventColumns:
        """Raw events of one app with since <= ts (<= until), in no particular order."""
        hi = float("inf") if until is None else until
        rows = self._db.execute(
            "SELECT body, min_ts, max_ts FROM event_batches WHERE app_pk=? AND max_ts>=? "
            "AND min_ts<=?",
            (self.app_pk(app_id), since, hi),
        )
        out: list[EventColumns] = []
        for body, lo_ts, hi_ts in rows:
            batch = EventColumns.decode(body)
            if not (lo_ts >= since and hi_ts <= hi):
                batch = batch.select((batch.ts >= since) & (batch.ts <= hi))
            out.append(batch)
        return EventColumns.concat(out)

    def batches_after(self, app_id: str, seq: int) -> tuple[list[EventColumns], int]:
        """The app's batches stored after batch `seq`: (batches, last seq)."""
        batches: list[EventColumns] = []
        last = seq
        for s, body in self._db.execute(
            "SELECT seq, body FROM event_batches WHERE app_pk=? AND seq>? ORDER BY seq",
            (self.app_pk(app_id), seq),
        ):
            batches.append(EventColumns.decode(body))
            last = s
        return batches, last

    def last_batch(self, app_id: str) -> int:
        """The seq of the app's latest stored batch (0 if none)."""
        row = self._db.execute(
            "SELECT MAX(seq) FROM event_batches WHERE app_pk=?", (self.app_pk(app_id),)
        ).fetchone()
        return row[0] or 0

    def event_window(self, app_id: str, since: float) -> EventWindow:
        rows = self._db.execute(
            "SELECT body FROM event_batches WHERE app_pk=? AND max_ts>=?",
            (self.app_pk(app_id), since),
        )
        return EventWindow.from_columns(
            app_id, [EventColumns.decode(body) for (body,) in rows], since=since
        )

    def account_days(self, app_id: str, since_day: int) -> AccountDays:
        """The app's rollup rows from `since_day` on, in (day, account) order, accounts
        coded in the order they first appear in it (the same arrays as account_days_from
        makes of the same rows, made a column at a time)."""
        rows = self._db.execute(
            'SELECT day, account, n, meaningful, checkin, read, "like", study, session, '
            "study_s, first_s, last_s FROM account_days WHERE app_pk=? AND day>=? "
            "ORDER BY day, account",
            (self.app_pk(app_id), since_day),
        ).fetchall()
        if not rows:
            return AccountDays.from_rows([], [])
        cols = list(zip(*rows, strict=True))
        codes: dict[str, int] = dict.fromkeys(cols[1])  # type: ignore[arg-type]
        accounts = list(codes)
        codes.update(zip(accounts, range(len(accounts)), strict=True))
        dtypes = AccountDays._DTYPES
        return AccountDays(
            accounts=accounts,
            **{
                f: np.array(cols[i], dtype=dtypes[f])
                for i, f in enumerate(AccountDays._COLUMNS)
                if f != "account"
            },
            account=np.fromiter(map(codes.__getitem__, cols[1]), dtype=np.int32, count=len(rows)),
        )

    def daily_usage(self, app_id: str, since_day: int) -> DailyUsage:
        """App-level totals per local day from `since_day` (the assessment's long view)."""
        rows = self._db.execute(
            "SELECT day, COUNT(*), SUM(meaningful > 0), SUM(meaningful) FROM account_days "
            "WHERE app_pk=? AND day>=? GROUP BY day",
            (self.app_pk(app_id), since_day),
        ).fetchall()
        return DailyUsage.from_rows([(d, a, m or 0, n or 0) for d, a, m, n in rows])

    def app_hours(self, app_id: str, since_day: int) -> AppHours:
        rows = self._db.execute(
            "SELECT day, hour, type, n FROM app_hours WHERE app_pk=? AND day>=? "
            "ORDER BY day, hour, type",
            (self.app_pk(app_id), since_day),
        ).fetchall()
        return AppHours.from_rows(rows)

    def snapshot(self, app_id: str) -> UsageSnapshot | None:
        row = self._db.execute(
            "SELECT body FROM snapshots WHERE app_pk=?", (self.app_pk(app_id),)
        ).fetchone()
        if not row:
            return None
        d = msgspec.msgpack.decode(row[0])
        d["features"] = frozenset(d.get("features") or ())
        d["days"] = msgspec.convert(d.get("days") or [], tuple[AccountDay, ...])
        d["articles"] = msgspec.convert(d.get("articles") or [], tuple[ArticleDay, ...])
        return UsageSnapshot(**d)

    def data_since(self, app_id: str) -> float | None:
        row = self._db.execute(
            "SELECT first_data_at FROM apps WHERE pk=?", (self.app_pk(app_id),)
        ).fetchone()
        return row[0] if row else None

    def first_event_ts(self, app_id: str) -> float | None:
        row = self._db.execute(
            "SELECT MIN(day) FROM account_days WHERE app_pk=?", (self.app_pk(app_id),)
        ).fetchone()
        return None if row[0] is None else row[0] * DAY

    def raw_event_count(self) -> int:
        return self._db.execute("SELECT COALESCE(SUM(n), 0) FROM event_batches").fetchone()[0]

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    # ---- findings ----------------------------------------------------------------

    def upsert_findings(self, findings: Iterable[Finding], now: float) -> list[Finding]:
        """Insert new findings, merge known ones with what this pass saw (merge_findings:
        a ring keeps every day it was seen on); returns those that are new.

        A finding the system resolved (its pattern had stopped) that is produced again is
        reopened, with an audit entry; a dismissed one stays dismissed."""
        new: list[Finding] = []
        with self._tx() as db:
            for f in findings:
                row = db.execute(
                    "SELECT status, body FROM findings WHERE id=?", (f.id,)
                ).fetchone()
                if row is not None:
                    f = merge_findings(_finding_dec.decode(row[1]), f)
                body = _finding_enc.encode(f)
                if row is None:
                    db.execute(
                        "INSERT INTO findings(id, app, kind, severity, score, window_start, "
                        "window_end, first_seen, last_seen, status, body) "
                        "VALUES(?,?,?,?,?,?,?,?,?,'open',?)",
                        (f.id, f.app, f.kind, f.severity, f.score, f.window_start,
                         f.window_end, now, now, body),
                    )
                    _set_members(db, f)
                    new.append(f)
                    continue
                # a cross-app finding may be filed under another of its apps this time
                db.execute(
                    "UPDATE findings SET app=?, severity=?, score=?, window_start=?, "
                    "window_end=?, last_seen=?, body=? WHERE id=?",
                    (f.app, f.severity, f.score, f.window_start, f.window_end, now, body, f.id),
                )
                _set_members(db, f)
                if row[0] == "resolved":
                    db.execute("UPDATE findings SET status='open' WHERE id=?", (f.id,))
                    db.execute(
                        "INSERT INTO finding_audit(finding_id, at, actor, from_status, "
                        "to_status, reason) VALUES(?,?,?,?,?,?)",
                        (f.id, now, "tapwatch", "resolved", "open", "pattern detected again"),
                    )
        return new

    def resolve_absent_findings(self, app_ids: Iterable[str], seen: set[str], now: float) -> int:
        """Findings of these apps still open but not produced by this detector pass are
        marked resolved by the system (the pattern stopped), with an audit entry."""
        n = 0
        with self._tx() as db:
            for app in app_ids:
                rows = db.execute(
                    "SELECT id FROM findings WHERE app=? AND status='open'", (app,)
                ).fetchall()
                for (fid,) in rows:
                    if fid in seen:
                        continue
                    db.execute("UPDATE findings SET status='resolved' WHERE id=?", (fid,))
                    db.execute(
                        "INSERT INTO finding_audit(finding_id, at, actor, from_status, "
                        "to_status, reason) VALUES(?,?,?,?,?,?)",
                        (fid, now, "tapwatch", "open", "resolved", "pattern no longer detected"),
                    )
                    n += 1
        return n

    def findings(self, app: str | None = None, status: str | None = None) -> list[Finding]:
        """Findings about `app` (cross-app ones included), or all."""
        q = "SELECT body FROM findings WHERE 1=1"
        args: list[Any] = []
        if app is not None:
            q += " AND (app=? OR id IN (SELECT finding_id FROM finding_apps WHERE app=?))"
            args += [app, app]
        if status is not None:
            q += " AND status=?"
            args.append(status)
        q += " ORDER BY first_seen, id"
        return [_finding_dec.decode(r[0]) for r in self._db.execute(q, args)]

    def open_findings_by_kind(self) -> dict[tuple[str, str], int]:
        """(app, kind) -> open or confirmed findings about the app (cross-app included)."""
        rows = self._db.execute(
            f"SELECT app, kind, COUNT(*) FROM {_BY_MEMBER} "
            "WHERE status IN ('open','confirmed') GROUP BY app, kind"
        )
        return {(a, k): n for a, k, n in rows}

    def finding_totals(self) -> dict[tuple[str, str, str], int]:
        """(app, kind, severity) -> findings ever raised about the app."""
        rows = self._db.execute(
            f"SELECT app, kind, severity, COUNT(*) FROM {_BY_MEMBER} GROUP BY app, kind, severity"
        )
        return {(a, k, s): n for a, k, s, n in rows}

    # ---- retention ---------------------------------------------------------------

    def prune(self, now: float, raw_retention: float, rollup_retention: float) -> dict[str, int]:
        """Delete raw event batches entirely older than raw_retention (once folded into the
        rollups), and rollups older than rollup_retention; and, among the next PRUNE_IDS
        event ids (the walk goes on from run to run), those older than rollup_retention.
        (Evidence of confirmed findings lives on in held_events.) Returns rows deleted per
        table."""
        raw_cut = now - raw_retention
        day_cut = int((now - rollup_retention) // DAY)
        with self._tx() as db:
            ev = db.execute(
                "DELETE FROM event_batches WHERE max_ts<? AND seq<=(SELECT rollup_seq FROM apps "
                "WHERE pk=event_batches.app_pk)",
                (raw_cut,),
            ).rowcount
            ids = self._prune_ids(db, day_cut)
            ad = db.execute("DELETE FROM account_days WHERE day<?", (day_cut,)).rowcount
            ah = db.execute("DELETE FROM app_hours WHERE day<?", (day_cut,)).rowcount
        return {"event_batches": ev, "event_ids": ids, "account_days": ad, "app_hours": ah}

    @staticmethod
    def _prune_ids(db: sqlite3.Connection, day_cut: int) -> int:
        """Delete ids older than day_cut among the next PRUNE_IDS of the table (in key
        order, from where the last run stopped; back to the start at the end)."""
        row = db.execute("SELECT value FROM meta WHERE key='ids_pruned_to'").fetchone()
        at = msgspec.json.decode(row[0]) if row else [-1, ""]
        end = db.execute(
            "SELECT app_pk, eid FROM event_ids WHERE (app_pk, eid)>(?, ?) ORDER BY app_pk, eid "
            "LIMIT 1 OFFSET ?",
            (*at, PRUNE_IDS - 1),
        ).fetchone()
        if end is None:  # the slice reaches the end of the table
            n = db.execute(
                "DELETE FROM event_ids WHERE (app_pk, eid)>(?, ?) AND day<?", (*at, day_cut)
            ).rowcount
            nxt = [-1, ""]
        else:
            n = db.execute(
                "DELETE FROM event_ids WHERE (app_pk, eid)>(?, ?) AND (app_pk, eid)<=(?, ?) "
                "AND day<?",
                (*at, *end, day_cut),
            ).rowcount
            nxt = list(end)
        db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES('ids_pruned_to', ?)",
            (_ids_enc.encode(nxt).decode(),),
        )
        return n


#: every (app, finding) pair: findings under their own app, and cross-app findings under
#: each of their other apps too
_BY_MEMBER = (
    "(SELECT app, kind, severity, status FROM findings UNION ALL "
    "SELECT m.app, f.kind, f.severity, f.status FROM finding_apps m "
    "JOIN findings f ON f.id = m.finding_id)"
)


def _set_members(db: sqlite3.Connection, f: Finding) -> None:
    """Record the other apps of a cross-app finding (its own app is the findings row's)."""
    db.execute("DELETE FROM finding_apps WHERE finding_id=?", (f.id,))
    db.executemany(
        "INSERT OR IGNORE INTO finding_apps(app, finding_id) VALUES(?,?)",
        [(a, f.id) for a in f.members() if a != f.app],
    )


def _snapshot_dict(s: UsageSnapshot) -> dict[str, Any]:
    return {
        "at": s.at,
        "registered_accounts": s.registered_accounts,
        "active_accounts_1d": s.active_accounts_1d,
        "active_accounts_7d": s.active_accounts_7d,
        "active_accounts_30d": s.active_accounts_30d,
        "last_release_at": s.last_release_at,
        "last_content_update_at": s.last_content_update_at,
        "features": sorted(s.features),
        "days": list(s.days),
        "articles": list(s.articles),
    }

