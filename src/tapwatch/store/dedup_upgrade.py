"""Upgrading a version 1 or 2 store's event ids (a B-tree row per id, `event_ids`) to
version 3: rows of one app and day (`event_id_batches`, at most MOVED_IDS_PER_ROW ids,
negative seqs in the order written) and, for each app, sorted runs of their keys with a
filter (the disk tier: the moved ids are all "sealed", none is loaded into memory).
Memory is bounded: the table is read in its key order (no sort), a day's ids are held
until they fill a row, the keys are written as runs of RUN_KEYS at most and merged a
block at a time."""

from __future__ import annotations

import sqlite3
from itertools import groupby
from operator import itemgetter

import msgspec
import numpy as np

from tapwatch.store import dedup_runs as runs_
from tapwatch.store.dedup import Bloom, id_keys
from tapwatch.store.dedup_runs import MIN_FILTER_KEYS, DiskTier

#: ids per event_id_batches row when id rows are moved (a day's ids are gathered until a
#: row is full, so the rows held at once are bounded by the days, not by the ids)
MOVED_IDS_PER_ROW = 5_000
#: keys per run written while moving (then merged as ingest's runs are)
RUN_KEYS = 1 << 20


def move_id_rows(db: sqlite3.Connection, filter_room: int) -> None:
    """Move the `event_ids` table's rows into id batch rows and each app's runs (filters
    sized at 16 bits a key while `filter_room` bytes last), then drop the table."""
    total = db.execute("SELECT COUNT(*) FROM event_ids").fetchone()[0]
    state = _Moving(db, seq=-total - 1)  # below -1, counting up: an app's rows are one span
    # in key order (no sort of the table): each day's ids gathered until a row is full
    rows = db.execute("SELECT app_pk, day, eid FROM event_ids ORDER BY app_pk, eid")
    for pk, app_rows in groupby(rows, key=itemgetter(0)):
        state.start(pk)
        days: dict[int, list[str]] = {}
        for _pk, day, eid in app_rows:
            ids = days.setdefault(day, [])
            ids.append(eid)
            if len(ids) >= MOVED_IDS_PER_ROW:
                state.row(day, days.pop(day))
        for day, ids in sorted(days.items()):
            state.row(day, ids)
        filter_room -= state.finish(filter_room)
    db.execute("DROP TABLE event_ids")


class _Moving:
    """One app's moved rows at a time: each written, its keys gathered into runs."""

    def __init__(self, db: sqlite3.Connection, seq: int) -> None:
        self.db, self.seq = db, seq
        self.enc = msgspec.json.Encoder()

    def start(self, pk: int) -> None:
        self.pk, self.first = pk, self.seq + 1
        self.runs: list[runs_.Run] = []
        self.keys: list[np.ndarray] = []
        self.seqs: list[np.ndarray] = []

    def row(self, day: int, ids: list[str]) -> None:
        self.seq += 1
        self.db.execute(
            "INSERT INTO event_id_batches(seq, app_pk, day, n, ids) VALUES(?,?,?,?,?)",
            (self.seq, self.pk, day, len(ids), self.enc.encode(ids).decode()),
        )
        self.keys.append(id_keys(ids))
        self.seqs.append(np.full(len(ids), self.seq, dtype=np.int64))
        if sum(map(len, self.keys)) >= RUN_KEYS:
            self._run()

    def finish(self, filter_room: int) -> int:
        """Write the app's last run and its filter; returns the filter's bytes."""
        if self.keys:
            self._run()
        n = sum(r.n for r in self.runs)
        capacity = max(2 * n, MIN_FILTER_KEYS)
        while Bloom.nbytes_for(capacity) > filter_room and capacity > MIN_FILTER_KEYS:
            capacity //= 2
        tier = DiskTier(self.runs, runs_.filled_bloom(self.db, self.runs, capacity), n)
        runs_.save_filter(self.db, self.pk, tier)
        return tier.nbytes

    def _run(self) -> None:
        """The keys gathered as one more run (batches first..seq), merged as ingest's."""
        k, s = np.concatenate(self.keys), np.concatenate(self.seqs)
        order = np.argsort(k, kind="stable")
        run = runs_.write_run(self.db, self.pk, self.first, self.seq, iter([(k[order], s[order])]))
        if run is not None:
            self.runs = runs_.compacted(self.db, self.pk, [*self.runs, run])
        self.first, self.keys, self.seqs = self.seq + 1, [], []
