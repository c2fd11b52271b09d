"""Reads for the detectors and the metrics: events and windows, batches since a pass,
rollups, snapshots, counters and sizes."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np

from tapwatch.columns import EventColumns
from tapwatch.detectors.base import AccountDay, ArticleDay, DailyUsage, UsageSnapshot
from tapwatch.store.connection import StoreBase
from tapwatch.window import DAY, AccountDays, AppHours, EventWindow


class DetectorReads(StoreBase):
    """What the detector pass and the exporters read."""

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
