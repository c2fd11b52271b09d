"""Rollups: the stored batches folded into daily (account, day) and hourly rows, many
batches per transaction, by the detector pass in its own process (ingest never pays for
the per-(day, account) upserts; `apps.rollup_seq` says which batches are folded in)."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from itertools import repeat
from zoneinfo import ZoneInfo

from tapwatch.columns import EventColumns
from tapwatch.store.connection import StoreBase
from tapwatch.window import AccountDays, rollup

#: events folded into rollups per transaction (the write lock is held that long)
FOLD_EVENTS = 50_000


class RollupFolding(StoreBase):
    """Folding stored batches into the rollups."""

    def fold_rollups(self, tz_of: Callable[[str], ZoneInfo], max_events: int = FOLD_EVENTS) -> int:
        """Fold the batches stored since the last fold into the daily rollups, every app,
        an app's batches `max_events` at a time, a transaction taking apps' folds until it
        holds `max_events` (so under twice that; each fold with the app's `rollup_seq`,
        so a crash folds nothing twice). `tz_of(app id)` gives the time zone of the app's
        local days. Returns the events folded."""
        folded = 0
        todo = deque(
            self._db.execute(
                "SELECT a.pk, a.id, a.rollup_seq FROM apps a WHERE EXISTS (SELECT 1 FROM "
                "event_batches b WHERE b.app_pk=a.pk AND b.seq>a.rollup_seq)"
            ).fetchall()
        )
        # Apps' folds share a transaction up to `max_events` (a commit each was a third
        # of a warm fold of 1,500 apps' few new events); each app's batches are cut into
        # folds of `max_events` as before, so the rollups' sums are added in the same order
        while todo:
            with self._tx() as db:
                in_tx = 0
                while todo and in_tx < max_events:
                    pk, app_id, seq = todo.popleft()
                    batches, n, more = [], 0, False
                    for s, size, body in db.execute(
                        "SELECT seq, n, body FROM event_batches WHERE app_pk=? AND seq>? "
                        "ORDER BY seq",
                        (pk, seq),
                    ):
                        batches.append(EventColumns.decode(body))
                        seq, n = s, n + size
                        if n >= max_events:
                            more = True  # the rest in the next fold
                            break
                    if not batches:
                        continue
                    self._add_rollups(db, pk, EventColumns.concat(batches), tz_of(app_id))
                    db.execute("UPDATE apps SET rollup_seq=? WHERE pk=?", (seq, pk))
                    folded += n
                    in_tx += n
                    if more:
                        todo.appendleft((pk, app_id, seq))
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
    def _add_rollups(db: sqlite3.Connection, pk: int, events: EventColumns, tz: ZoneInfo) -> None:
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
