"""Retention: raw batches, rollups and event ids older than their horizons deleted (the
ids with their de-duplication runs: `tapwatch.store.dedup_tiers`)."""

from __future__ import annotations

from tapwatch.store.connection import StoreBase
from tapwatch.window import DAY


class Retention(StoreBase):
    """Pruning what is past its retention."""

    def prune(self, now: float, raw_retention: float, rollup_retention: float) -> dict[str, int]:
        """Delete raw event batches entirely older than raw_retention (once folded into the
        rollups), and rollups and event ids (by their batch's last day) older than
        rollup_retention. (Evidence of confirmed findings lives on in held_events.) Returns
        rows deleted per table (event ids: ids, not rows)."""
        raw_cut = now - raw_retention
        day_cut = int((now - rollup_retention) // DAY)
        with self._tx() as db:
            ev = db.execute(
                "DELETE FROM event_batches WHERE max_ts<? AND seq<=(SELECT rollup_seq FROM apps "
                "WHERE pk=event_batches.app_pk)",
                (raw_cut,),
            ).rowcount
            ad = db.execute("DELETE FROM account_days WHERE day<?", (day_cut,)).rowcount
            ah = db.execute("DELETE FROM app_hours WHERE day<?", (day_cut,)).rowcount
        with self._lock:
            ids = self._dedup.prune(self._tx, day_cut)
        return {"event_batches": ev, "event_ids": ids, "account_days": ad, "app_hours": ah}
