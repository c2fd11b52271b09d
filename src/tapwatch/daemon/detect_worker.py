"""The detector pass, run in a worker process.

Building windows from the store and running the detectors is CPU-bound Python and numpy:
in the daemon's own process it would hold the GIL for seconds and delay every poll. A
worker process (one per daemon, kept warm) runs it on the other core; it reads the store
through its own read-only connection (SQLite WAL lets it read while the daemon writes).

The worker lives exactly as long as the daemon: `watch_parent` (its initializer) ends it when
the daemon is gone, however the daemon ended.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import threading
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from tapwatch.columns import Tables
from tapwatch.config import AppConfig, Config, app_profile, app_timezone
from tapwatch.detectors.base import DailyUsage, DetectorInput, UsageSnapshot
from tapwatch.detectors.engine import no_cycle_collection, run_fleet
from tapwatch.detectors.stats import count_distinct
from tapwatch.store.sqlite import Store
from tapwatch.window import (
    DAY,
    AccountDays,
    AppHours,
    EventWindow,
    WindowRoom,
    append_in_room,
    local_day_of,
    with_room,
)

log = logging.getLogger("tapwatch.detect")
#: strings a cached window's tables may hold beyond twice its events before they are cut to
#: those in use (a cached window's tables keep every string they ever took in)
_TABLE_SLACK = 4096
_stores: dict[Path, Store] = {}
_caches: dict[Path, InputCache] = {}


def watch_parent() -> None:
    """Worker initializer: end this process as soon as the daemon that started it is gone.

    A daemon killed by a signal (`kill -9`, SIGBUS) runs none of its shutdown code. The
    worker would then wait for tasks for ever (it holds its task queue's write end itself),
    and multiprocessing's resource tracker, which waits for every holder of its pipe, with
    it. multiprocessing started the worker through a pipe whose other end only the daemon
    holds: the kernel closes it when the daemon dies, whatever killed it, and a thread here
    waits for that."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to follow
        return

    def follow() -> None:
        wait([parent.sentinel])
        os._exit(0)  # nobody is left to report to, and nothing here needs flushing

    threading.Thread(target=follow, name="follow-daemon", daemon=True).start()


@dataclass(slots=True)
class _AppInputs:
    seq: int  # the last event batch taken into the window
    rolled: int  # the last event batch folded into the rollups read
    tz: ZoneInfo
    since: float  # the window's start and the first rollup day it was built for
    since_day: int
    events: EventWindow
    room: WindowRoom | None  # the spare rows after the window's columns
    tables: Tables  # the window's string tables, new batches coded straight into them
    account_days: AccountDays
    app_hours: AppHours
    history_day: int  # the first day of `history`
    history: DailyUsage


class InputCache:
    """Each app's window and rollups, kept between passes and updated with the batches
    stored since: a pass costs what arrived since the last one, not the whole window.

    Rollup rows can change only on days that newly folded batches fall on (the store's
    `rollup_seq`), so the cached rows of earlier days are kept and the rest re-read."""

    def __init__(self) -> None:
        self._apps: dict[str, _AppInputs] = {}

    def build(
        self, store: Store, apps: list[AppConfig], config: Config, now: float
    ) -> list[DetectorInput]:
        """Every app's inputs at `now`, updated with what the store holds since the last
        build (the cycle collector paused: a build makes tens of thousands of tables)."""
        with no_cycle_collection():
            return self._build(store, apps, config, now)

    def _build(
        self, store: Store, apps: list[AppConfig], config: Config, now: float
    ) -> list[DetectorInput]:
        det = config.daemon.detect
        out = []
        for app in apps:
            profile = app_profile(app, config.daemon)
            tz = profile.timezone
            since = now - det.raw_window
            since_day = local_day_of(now, tz) - det.rollup_days
            history_day = history_first_day(config, now, tz)
            with store.consistent_read():
                first = store.first_event_ts(app.id)
                c = self._update(store, app.id, tz, since, since_day, history_day, now, first)
                snapshot = store.snapshot(app.id)
                seen = store.data_since(app.id)
            self._apps[app.id] = c
            out.append(
                DetectorInput(
                    app=profile,
                    now=now,
                    events=c.events,
                    account_days=c.account_days,
                    app_hours=c.app_hours,
                    snapshot=snapshot,
                    data_since=min((t for t in (first, seen) if t is not None), default=None),
                    history=c.history,
                )
            )
        for gone in set(self._apps) - {a.id for a in apps}:
            del self._apps[gone]
        return out

    def _update(
        self,
        store: Store,
        app_id: str,
        tz: ZoneInfo,
        since: float,
        since_day: int,
        history_day: int,
        now: float,
        first: float | None,
    ) -> _AppInputs:
        """`first`: the start of the store's first rollup day (None: no rollups left)."""
        c = self._apps.get(app_id)
        # first pass, another time zone, or a window reaching further back than the cached
        # one (a longer raw_window, rollup_days or rollup retention after a reload): read
        # it all
        rolled = store.rollup_seq(app_id)
        if (
            c is None
            or c.tz != tz
            or since < c.since
            or since_day < c.since_day
            or history_day < c.history_day
        ):
            events, room = with_room(store.event_window(app_id, since))
            return _AppInputs(
                seq=store.last_batch(app_id),
                rolled=rolled,
                tz=tz,
                since=since,
                since_day=since_day,
                events=events,
                room=room,
                tables=_tables_of(events),
                account_days=store.account_days(app_id, since_day),
                app_hours=store.app_hours(app_id, since_day),
                history_day=history_day,
                history=store.daily_usage(app_id, history_day),
            )
        new, seq = store.batches_after(app_id, c.seq)
        events, tables, room = c.events.since(since), c.tables, c.room
        if new:
            # late batches wholly before the window's start add nothing, not even strings
            if any(bool((b.ts >= since).any()) for b in new):
                # coded into the window's own tables: its strings are not indexed again,
                # and the window grows by its columns only, written after them in its
                # room (not copied with them) when the new events follow it in time
                events, room = append_in_room(
                    events,
                    EventWindow.from_columns(app_id, new, since=since, tables=tables),
                    room,
                )
            if events.table_size > 2 * len(events) + _TABLE_SLACK:
                events, room = events.compacted(), None
                tables = _tables_of(events)
        earliest = store.earliest_between(app_id, c.rolled, rolled)
        if earliest is None:
            reread = h_reread = local_day_of(now, tz) + 1  # nothing folded since: keep every day
        else:
            changed = min(local_day_of(earliest, tz), local_day_of(now, tz))
            reread = max(since_day, changed)
            # a backlog can bring events older than the rollups the detectors get
            h_reread = max(history_day, changed)
        # rollup days the store's retention has pruned since are dropped from the cache
        # too (rollups are pruned by day, account and hourly rows alike)
        kept = local_day_of(now, tz) + 1 if first is None else int(first // DAY)
        ad = _days(c.account_days, max(since_day, kept), reread)
        ah = _days(c.app_hours, max(since_day, kept), reread)
        hist = _days(c.history, max(history_day, kept), h_reread)
        if earliest is not None:
            ad = ad.extend(store.account_days(app_id, reread))
            ah = ah.extend(store.app_hours(app_id, reread))
            hist = hist.extend(store.daily_usage(app_id, h_reread))
        return _AppInputs(
            seq=seq,
            rolled=rolled,
            tz=tz,
            since=since,
            since_day=since_day,
            events=events,
            room=room,
            tables=tables,
            account_days=ad,
            app_hours=ah,
            history_day=history_day,
            history=hist,
        )


def _tables_of(events: EventWindow) -> Tables:
    """Tables that are the window's own lists (appending to them extends the window's)."""
    return Tables(
        accounts=events.accounts,
        account_index=dict(zip(events.accounts, range(len(events.accounts)), strict=True)),
        strings=events.strings,
        string_index=dict(zip(events.strings, range(len(events.strings)), strict=True)),
    )


_Rows = TypeVar("_Rows", AccountDays, AppHours, DailyUsage)


def _days(rows: _Rows, first: int, end: int) -> _Rows:
    """The rows of days first..end-1. Rollup rows are kept in day order (read so, and
    extended with later days only), so they are one run: a slice, whose arrays are views
    of the cached ones, not copies (an unchanged app costs no copying at all)."""
    lo, hi = np.searchsorted(rows.day, (first, end), side="left").tolist()
    return rows.select(slice(lo, hi))


def history_first_day(config: Config, now: float, tz: ZoneInfo) -> int:
    """First day of the assessment's long view: as far back as rollups are kept."""
    keep = config.daemon.store.rollup_retention
    return local_day_of(now, tz) - int(keep // 86400)


def _open(path: Path) -> Store:
    """The worker's connection: one that may fold the rollups, or, while the store refuses
    writes, one that only reads (the inputs then use the rollups folded so far)."""
    try:
        return Store(path)
    except sqlite3.Error:
        return Store(path, readonly=True)


def fold(store: Store, config: Config) -> int:
    """Fold the store's new batches into the rollups, each app in its own time zone (an
    app no longer registered in the daemon's default one). Returns the events folded."""
    zones = {a.config.id: app_timezone(a.config, config.daemon) for a in config.apps}
    default = ZoneInfo(config.daemon.detect.timezone)
    with no_cycle_collection():  # decoded batches and rollup rows: no cycles among them
        return store.fold_rollups(lambda app_id: zones.get(app_id, default))


def build_inputs(
    store: Store, apps: list[AppConfig], config: Config, now: float
) -> list[DetectorInput]:
    """Detector inputs for these apps, read from the store from scratch."""
    return InputCache().build(store, apps, config, now)


def active_accounts(inp: DetectorInput) -> dict[str, int]:
    """Distinct accounts with any event in the last 1, 7 and 30 local days, counted from
    events; for an app that sends none, its own snapshot figures (where it gives them)."""
    ad = inp.account_days
    if len(ad) == 0:
        snap = inp.snapshot
        if snap is None:
            return {}
        figures = {
            "1d": snap.active_accounts_1d,
            "7d": snap.active_accounts_7d,
            "30d": snap.active_accounts_30d,
        }
        return {w: v for w, v in figures.items() if v is not None}
    today = local_day_of(inp.now, inp.app.timezone)
    return {
        label: count_distinct(ad.account[ad.day > today - days], len(ad.accounts))
        for label, days in (("1d", 1), ("7d", 7), ("30d", 30))
    }


@dataclass
class DetectPass:
    """What one pass gives back to the daemon (all picklable)."""

    result: object  # engine.FleetResult
    active_accounts: dict[str, dict[str, int]]
    snapshots: dict[str, UsageSnapshot]


def run_detect_pass(
    store: Store | Path,
    apps: list[AppConfig],
    config: Config,
    now: float,
    cache: InputCache | None = None,
) -> DetectPass:
    """Fold the batches stored since the last pass into the rollups, update every app's
    inputs from the store and run the engine.

    Given a path (in the worker process), the store connection and the input cache are
    kept in this process between passes: the fold and the detectors run on its core, not
    the poll loop's."""
    if isinstance(store, Path):
        s = _stores.get(store)
        if s is None:
            s = _stores[store] = _open(store)
            _caches[store] = InputCache()
        cache = _caches[store]
        store = s
    if not store.readonly:
        try:
            fold(store, config)
        except sqlite3.Error as e:  # the daemon's own writes report the store's state
            log.warning("rollups not folded in this pass (the store refused): %s", e)
    inputs = (cache or InputCache()).build(store, apps, config, now)
    result = run_fleet(inputs, config.daemon.detectors)
    return DetectPass(
        result=result,
        active_accounts={i.app.id: active_accounts(i) for i in inputs},
        snapshots={i.app.id: i.snapshot for i in inputs if i.snapshot},
    )
