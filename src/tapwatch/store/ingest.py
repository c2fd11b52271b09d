"""Ingest: a batch of columns, its ids (exact de-duplication), counters, snapshot and
cursor written in one transaction (see `tapwatch.store.sqlite` for the durability
contract)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from tapwatch.columns import EventColumns
from tapwatch.detectors.base import UsageSnapshot
from tapwatch.events import EventType
from tapwatch.store.connection import StoreBase
from tapwatch.window import DAY

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



class IngestWrites(StoreBase):
    """Cursors, ingested files and the ingest transaction."""

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

