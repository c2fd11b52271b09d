"""Judging a whole dump: the daemon's windows slid across it in time order.

At local midnight of each Monday (each app's time zone; every `step_days` with --step) the
detectors run as the daemon's pass would at that instant: the raw window
(`detect.raw_window`, 7 days) of events before it and `detect.rollup_days` of daily
rollups. The inputs are kept up to date the way the daemon's input cache keeps them
(tapwatch.daemon.detect_worker.InputCache): the window is trimmed and extended with the
events of the step, the rollups of the step's days are appended, nothing is rebuilt; the
window and the rollups share append-only string tables. Findings of every window are merged by id
(tapwatch.detectors.merge: a ring seen by overlapping windows is one finding with all its
days). At the end of the dump one full pass, assessment included, judges each app as of
that instant.

Memory: one raw window per app, its rollups (`rollup_days`; a column that is zero in every
row held as one zero), a row a day of its totals over the rollup retention (the
assessment's long view), the findings, and the events read from the spill but not yet
reached (at most a day per app): not the dump. The string tables are the reader's,
packed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from tapwatch.analyze.spill import BUCKET_S, TimeSpill
from tapwatch.bytecolumns import sorted_order
from tapwatch.columns import EventColumns, Tables
from tapwatch.detectors.base import (
    AppProfile,
    DailyUsage,
    DetectorInput,
    Finding,
    UsageSnapshot,
)
from tapwatch.detectors.engine import DetectorFailure, FleetResult, run_detectors, run_fleet
from tapwatch.detectors.merge import merge_into
from tapwatch.window import (
    DAY,
    AccountDays,
    AppHours,
    EventWindow,
    combine_app_hours,
    first_of_each,
    ids_as_bytes,
    local_day_of,
    rollup,
)


@dataclass(frozen=True, slots=True)
class SweepSettings:
    raw_window: float  # seconds of raw events each window holds
    rollup_days: int
    step_days: int  # days between two windows' ends
    #: days of app-level daily totals the assessment compares the app with (its own past):
    #: as far back as the daemon keeps rollups
    history_days: int
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)


class AppInputs:
    """One app's detector inputs as the sweep moves forward. The window and the rollups
    share append-only string tables (Tables), so a step costs what it brings in."""

    def __init__(self, profile: AppProfile, tables: Tables) -> None:
        self.profile = profile
        self.tables = tables
        self.events = EventWindow.from_columns(profile.id, [], tables=self.tables)
        self.account_days = AccountDays(accounts=self.tables.accounts, **_no_rows())
        self.app_hours = AppHours.from_rows([])
        self.history = DailyUsage.from_rows([])  # one row a day: the whole span is cheap
        self.pending: list[EventColumns] = []  # read from the spill, not reached yet
        self.first_day: int | None = None
        self.events_in = 0
        self.duplicates = 0
        self._rank = np.zeros(0, dtype=np.int32)  # each account code's place by name
        self._by_name = np.zeros(0, dtype=np.int32)  # the codes by name

    def advance(self, end: float, settings: SweepSettings) -> DetectorInput | None:
        """Take in the pending events before `end`; the inputs of a pass at `end`, or None
        if the app has nothing in them."""
        tz = self.profile.timezone
        since = end - settings.raw_window
        since_day = local_day_of(end, tz) - settings.rollup_days
        history_day = local_day_of(end, tz) - settings.history_days
        new = EventColumns.concat(self._take_pending(end), dedup=False)
        events = self.events.since(since)
        ad = _rows_since(self._take_account_days(), since_day)
        ah = self.app_hours
        first_hour = int(np.searchsorted(ah.day, ah.day.dtype.type(since_day)))
        ah = ah.select(slice(first_hour, None))  # type: ignore[arg-type]
        if len(new):
            new, ids = self._drop_repeats(self.tables.coded(new), events)
            acc, hours = self._rollup(new, tz)
            part = EventWindow.from_columns(self.profile.id, [new], tables=self.tables, ids=ids)
            self.events_in += len(new)
            del new, ids  # the step's events are in `part` now: not held twice from here
            _append_days(ad, acc)
            ah = _append_hours(ah, hours)
            self.history = self.history.extend(DailyUsage.from_account_days(acc))
            first = int(acc.day.min())
            self.first_day = first if self.first_day is None else min(self.first_day, first)
            events = events.extend(part.since(since))
            del part
        self.account_days = AccountDays(accounts=self.tables.accounts, **ad)
        self.events, self.app_hours = events, ah
        self.history = self.history.select(self.history.day >= history_day)
        if not len(events) and not len(self.account_days):
            return None
        return DetectorInput(
            app=self.profile,
            now=end,
            events=events,
            account_days=self.account_days,
            app_hours=ah,
            snapshot=None,
            data_since=None if self.first_day is None else self.first_day * DAY,
            history=self.history,
        )

    def _take_pending(self, end: float) -> list[EventColumns]:
        """The pending pieces' events before `end`, in order; the rest stay pending. Only
        a piece across `end` (a UTC day across the app's local midnight) is cut."""
        pending, self.pending = self.pending, []
        out = []
        for piece in pending:
            before = piece.ts < end
            if before.all():
                out.append(piece)
            elif before.any():
                out.append(piece.select(before))
                self.pending.append(piece.select(~before))
            else:
                self.pending.append(piece)
        return out

    def _rollup(self, new: EventColumns, tz: ZoneInfo) -> tuple[AccountDays, AppHours]:
        """The step's rollups, account-day rows sorted by (day, account name) as the store
        returns them, in the detector dtypes (codes kept: the shared tables'). The rows are
        grouped by (day, rank of the account by name), so grouping sorts them already: a
        second sort of the rows by name, and a gather of every column, saved."""
        accounts = self.tables.accounts
        # the tables are complete once the dump is read: sorted once, not every step
        if len(self._by_name) != len(accounts):
            self._by_name = sorted_order(accounts).astype(np.int32)
            self._rank = np.empty(len(accounts), dtype=np.int32)
            self._rank[self._by_name] = np.arange(len(accounts), dtype=np.int32)
        ranked = dataclasses.replace(new, account=self._rank[new.account])
        acc, hours = rollup(ranked, tz)
        cols = {
            f: getattr(acc, f).astype(AccountDays._DTYPES[f], copy=False)
            for f in AccountDays._COLUMNS
        }
        cols["account"] = self._by_name[acc.account]
        return AccountDays(accounts=accounts, **cols), hours

    def _take_account_days(self) -> dict[str, np.ndarray]:
        """The rollup columns, no longer held here: the rollups are the biggest part of
        the inputs, and extending them while the old ones are held would hold them twice."""
        ad, self.account_days = self.account_days, None  # type: ignore[assignment]
        return {f: getattr(ad, f) for f in AccountDays._COLUMNS}

    def _drop_repeats(
        self, new: EventColumns, window: EventWindow
    ) -> tuple[EventColumns, np.ndarray]:
        """Events whose id came earlier in the batch or in the window are dropped, as the
        daemon's store drops a repeated id (analyze remembers ids for one window): the
        events kept, and their ids as bytes."""
        ids = ids_as_bytes(new.ids)
        before = len(window)
        # the window's ids and the batch's at once: an id's first place is kept if it is
        # in the batch
        first = first_of_each(np.concatenate([window.ids, ids]) if before else ids)
        keep = np.zeros(len(new), dtype=bool)
        keep[first[first >= before] - before] = True
        if keep.all():
            return new, ids
        self.duplicates += len(new) - int(keep.sum())
        return new.select(keep), ids[keep]


def _no_rows() -> dict[str, np.ndarray]:
    empty = AccountDays.from_rows([], [])
    return {f: getattr(empty, f) for f in AccountDays._COLUMNS}


def _rows_since(cols: dict[str, np.ndarray], day: int) -> dict[str, np.ndarray]:
    """Rollup columns from local day `day` on (views: rows are sorted by day)."""
    days = cols["day"]
    # the day in the column's dtype: numpy would otherwise cast all 1.3M rows to int64
    # (0.3 ms a step against 2 µs)
    start = int(np.searchsorted(days, days.dtype.type(day)))
    return {f: c[start:] for f, c in cols.items()}


def _append_days(cols: dict[str, np.ndarray], new: AccountDays) -> None:
    """Rollup rows of later days appended to `cols`, in place (rows of one day come from
    one step: local midnights end every step but the last, which brings in days of its
    own). Column by column, each old column let go once copied, so the rows are in memory
    once and one column more, not twice. A column that is zero in every row (the counts
    of a kind of event the app never sends: six of the twelve for a check-in app) is held
    as one zero seen as many times (`_zeros`), read-only, no memory."""
    if not len(new):
        return
    assert not len(cols["day"]) or new.day.min() > cols["day"].max()
    for f in AccountDays._COLUMNS:
        old, add = cols[f], getattr(new, f)
        if (not len(old) or _held_as_zeros(old)) and not add.any():
            cols[f] = _zeros(len(old) + len(add), add.dtype)
        else:
            cols[f] = np.concatenate([old, add])


def _zeros(n: int, dtype: np.dtype) -> np.ndarray:
    """n zeros of this dtype that take no memory (a read-only view of one zero)."""
    return np.broadcast_to(np.zeros(1, dtype=dtype), (n,))


def _held_as_zeros(col: np.ndarray) -> bool:
    """Whether a column was made by `_zeros` (so zero in every row)."""
    return col.strides == (0,) and not col.flags.writeable and not col[:1].any()


def _append_hours(old: AppHours, new: AppHours) -> AppHours:
    if not len(old) or not len(new):
        return new if len(new) else old
    if new.day.min() > old.day.max():
        return old.extend(new)
    return combine_app_hours([old, new])


def midnight(d: date, profile: AppProfile) -> float:
    """Epoch seconds of local midnight starting date d in the app's time zone."""
    return datetime.combine(d, time(0), tzinfo=profile.timezone).timestamp()


def window_dates(
    first_ts: float, end: float, profiles: list[AppProfile], step_days: int
) -> list[date]:
    """The dates at whose local midnight windows end before the final one at `end`: the
    first Monday after the first event (so that weekly findings see whole ISO weeks), then
    every `step_days`, while some app's midnight is before `end`."""
    d = datetime.fromtimestamp(first_ts, UTC).date()
    d += timedelta(days=-d.weekday() % 7)
    while max(midnight(d, p) for p in profiles) <= first_ts:
        d += timedelta(days=7)
    out = []
    while min(midnight(d, p) for p in profiles) < end:
        out.append(d)
        d += timedelta(days=step_days)
    return out


@dataclass
class SweepResult:
    findings: list[Finding]  # every window's, merged by id, in the engine's order
    final: FleetResult  # the pass at the end of the dump (assessments, metrics)
    windows: int
    failures: list[DetectorFailure]
    duplicates: int


def sweep(
    spill: TimeSpill,
    profiles: dict[str, AppProfile],
    settings: SweepSettings,
    end: float,
    *,
    snapshots: dict[str, UsageSnapshot] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> SweepResult:
    """Slide the windows over the spilled events up to `end`, then judge at `end`.
    `progress(windows done, windows in all, events taken in)` after each window."""
    assert 1 <= settings.step_days * DAY <= settings.raw_window
    apps = {a: AppInputs(profiles[a], spill.tables[a]) for a in spill.apps()}
    days = spill.days()
    profiles_in = [s.profile for s in apps.values()]
    steps = window_dates(spill.first_ts, end, profiles_in, settings.step_days)
    total = len(steps) + 1
    found: dict[str, Finding] = {}
    failures: dict[tuple[str, str | None, str], DetectorFailure] = {}
    next_day = 0

    def load(until: float) -> None:
        nonlocal next_day
        while next_day < len(days) and days[next_day] * BUCKET_S < until:
            for app_id, state in apps.items():
                state.pending += spill.take(app_id, days[next_day])
            next_day += 1

    def events_in() -> int:
        return sum(s.events_in for s in apps.values())

    inputs: list[DetectorInput] = []
    for k, d in enumerate(steps):
        ends = {a: min(midnight(d, s.profile), end) for a, s in apps.items()}
        load(max(ends.values()))
        # the last pass's inputs go before the next ones are made (nothing else may hold
        # one: the rollups would be in memory twice)
        inputs.clear()
        inputs += filter(None, (s.advance(ends[a], settings) for a, s in apps.items()))
        findings, failed = run_detectors(inputs, settings.detectors)
        merge_into(found, findings)
        for f in failed:
            failures.setdefault((f.kind, f.app, f.error), f)
        if progress is not None:
            progress(k + 1, total, events_in())
    load(float("inf"))
    inputs.clear()
    inputs += filter(None, (s.advance(end, settings) for s in apps.values()))
    for inp in inputs:
        if snapshots and inp.app.id in snapshots:
            inp.snapshot = snapshots[inp.app.id]
    final = run_fleet(inputs, settings.detectors)
    merge_into(found, final.findings)
    for f in final.failures:
        failures.setdefault((f.kind, f.app, f.error), f)
    if progress is not None:
        progress(total, total, events_in())
    findings = sorted(found.values(), key=lambda f: (f.app, f.kind, f.window_start, f.id))
    return SweepResult(
        findings=findings,
        final=final,
        windows=total,
        failures=list(failures.values()),
        duplicates=sum(s.duplicates for s in apps.values()),
    )
