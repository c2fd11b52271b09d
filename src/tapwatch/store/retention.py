"""Retention: raw batches, rollups and event ids older than their horizons deleted, the
ids a slice of the table at a time."""

from __future__ import annotations

import sqlite3

import msgspec

from tapwatch.store.connection import StoreBase
from tapwatch.window import DAY

#: event ids examined per prune run (a slice of the table; the next run goes on from there)
PRUNE_IDS = 1_000_000
_ids_enc = msgspec.json.Encoder()


class Retention(StoreBase):
    """Pruning what is past its retention."""

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


