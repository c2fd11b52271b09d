"""Ingest: a batch of columns, its ids (exact de-duplication against tiered indexes,
`tapwatch.store.dedup_tiers`), counters, snapshot and cursor written in one transaction
(see `tapwatch.store.sqlite` for the durability contract)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from tapwatch.columns import EventColumns
from tapwatch.detectors.base import UsageSnapshot
from tapwatch.events import EventType
from tapwatch.store.connection import StoreBase
from tapwatch.store.dedup_tiers import DedupSize
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
        with self._lock:  # tiers to load are read outside the write transaction (WAL:
            self._dedup.ensure(self._db, pk, app_id)  # the detector pass's folds go on)
        seq = 0
        with self._tx() as db:
            self._dedup.ensure(db, pk, app_id)  # loaded again only if ids came meanwhile
            fresh, keys, slots, order = self._dedup.fresh(db, pk, batch.events)
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
                max_ts = float(fresh.ts.max())
                seq = db.execute(
                    "INSERT INTO event_batches(app_pk, min_ts, max_ts, n, body) "
                    "VALUES(?,?,?,?,?)",
                    (pk, float(fresh.ts.min()), max_ts, len(fresh), fresh.encode()),
                ).lastrowid
                # the ids too, kept after the batch's raw events (with its last day)
                db.execute(
                    "INSERT INTO event_id_batches(seq, app_pk, day, n, ids) VALUES(?,?,?,?,?)",
                    (seq, pk, int(max_ts // DAY), len(fresh), _ids_enc.encode(fresh.ids).decode()),
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
        if len(fresh):  # committed: now the memory tier may say so (kill -9: loaded again)
            with self._lock:
                self._dedup.stored(pk, keys, seq, slots, order)
                self._dedup.keep_within_limit(self._tx)
        return IngestResult(inserted=len(fresh), duplicates=dups, by_type=by_type)

    def dedup_size(self) -> DedupSize:
        """What de-duplication holds in memory and on disk, and its disk lookups."""
        return self._dedup.size

    def resize_dedup(self, limit: int) -> DedupSize:
        """Bound de-duplication's memory by `limit` bytes from now on (a reload changed
        store.dedup_memory): a smaller one is reached at once, ids moved to disk."""
        with self._lock:
            self._dedup.resize(self._tx, limit)
        return self._dedup.size


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

