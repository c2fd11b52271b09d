"""The detect pass's input cache: updated with new batches, it gives exactly what reading
everything from scratch gives (windows, rollups, findings)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import numpy as np
import pytest
import yaml

from tapwatch.columns import EventColumns
from tapwatch.config import load_config
from tapwatch.daemon import detect_worker
from tapwatch.daemon.detect_worker import InputCache, build_inputs, fold
from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.engine import run_fleet
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.sources.base import EventNormaliser
from tapwatch.store.sqlite import IngestBatch, Store
from tapwatch.window import EventWindow

APPS = [
    "risk-point-checkin",
    "deadline-reports",
    "empty-shell",
    "duplicate-forms-a",
    "duplicate-forms-b",
]


def _semantic(inp: DetectorInput) -> dict[str, object]:
    """An input as plain values: codes replaced by what they stand for, rows sorted."""
    w, ad, ah = inp.events, inp.account_days, inp.app_hours
    s = [*w.strings, None]  # code -1 -> None
    events = sorted(
        zip(
            w.ts.tolist(),
            w.ids.tolist(),
            [w.accounts[i] for i in w.account],
            [s[i] for i in w.device],
            [s[i] for i in w.network],
            [s[i] for i in w.target],
            np.nan_to_num(w.lat).tolist(),
            w.type.tolist(),
            strict=True,
        )
    )
    days = sorted(
        zip(
            ad.day.tolist(),
            [ad.accounts[i] for i in ad.account],
            ad.events.tolist(),
            ad.meaningful.tolist(),
            ad.first_s.tolist(),
            ad.last_s.tolist(),
            strict=True,
        )
    )
    hours = sorted(
        zip(ah.day.tolist(), ah.hour.tolist(), ah.type.tolist(), ah.count.tolist(), strict=True)
    )
    h = inp.usage_history()
    history = list(
        zip(
            h.day.tolist(),
            h.active.tolist(),
            h.meaningful_accounts.tolist(),
            h.meaningful.tolist(),
            strict=True,
        )
    )
    return {
        "events": events,
        "days": days,
        "hours": hours,
        "since": inp.data_since,
        "history": history,
    }


class Fleet:
    """A simulated fleet, its registry loaded as the daemon would, and a store to fill."""

    def __init__(
        self,
        tmp_path: Path,
        history_days: int,
        scale: float,
        apps: list[str],
        zones: dict[str, str] | None = None,
    ) -> None:
        self.sim = Simulator(
            SimulatorOptions(seed=4, history_days=history_days, scale=scale, include=apps)
        )

        async def registry() -> None:
            await self.sim.start()
            self.sim.write_registry(tmp_path / "apps.yaml")
            await self.sim.stop()

        asyncio.run(registry())
        (tmp_path / "key").write_text("cd" * 32)
        entries = yaml.safe_load((tmp_path / "apps.yaml").read_text())["apps"]
        for e in entries:  # an app's own time zone: its local days end at other instants
            if e["id"] in (zones or {}):
                e["timezone"] = zones[e["id"]]  # type: ignore[index]
        (tmp_path / "t.yaml").write_text(
            yaml.safe_dump({"pseudonymisation": {"key_file": "key"}, "apps": entries})
        )
        self.config = load_config(tmp_path / "t.yaml")
        self.apps = [a.config for a in self.config.apps]
        self.store = Store(tmp_path / "s.sqlite")
        self.now = self.sim.now()
        self.today = self.sim.today()
        self._p = Pseudonymizer(b"cache-test-key-0123")

    def ingest(self, days: range, only: list[str] | None = None, skip: str | None = None) -> None:
        """Store these days of events, a batch per app-day."""
        for app in self.apps:
            if (only and app.id not in only) or app.id == skip:
                continue
            norm = EventNormaliser(app.id, self._p, self.now, 600.0, 0.0)
            for day in days:
                evs = norm.from_rows(self.sim.events_for_day(app.id, day))
                self.store.ingest(app.id, IngestBatch(events=evs), self.now)


@pytest.mark.parametrize("slack", [4096, 0])  # tables cut now and then, or every pass
def test_cache_updates_match_a_fresh_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: int
) -> None:
    monkeypatch.setattr(detect_worker, "_TABLE_SLACK", slack)
    cut = 0
    compacted = EventWindow.compacted

    def counted(w: EventWindow) -> EventWindow:
        nonlocal cut
        cut += 1
        return compacted(w)

    monkeypatch.setattr(EventWindow, "compacted", counted)
    f = Fleet(tmp_path, history_days=30, scale=0.5, apps=APPS)
    store, apps, config, now, today, ingest = f.store, f.apps, f.config, f.now, f.today, f.ingest
    cache = InputCache()
    ingest(range(today - 30, today - 8), skip="deadline-reports")
    ingest(range(today - 12, today - 8), only=["deadline-reports"])

    def detect_pass(at: float) -> list[DetectorInput]:
        fold(store, config)  # as run_detect_pass does first
        return cache.build(store, apps, config, at)

    detect_pass(now - 8 * 86400)  # an earlier pass
    ingest(range(today - 8, today - 2), skip="empty-shell")
    ingest(range(today - 4, today - 2), only=["empty-shell"])
    detect_pass(now - 2 * 86400)
    detect_pass(now - 2 * 86400)  # nothing new in between
    ingest(range(today - 2, today))
    # batches stored after the fold but before the read: in the window, not yet rolled up
    cache.build(store, apps, config, now - 3600)
    ingest(range(today, today + 1))
    detect_pass(now - 60)
    # late data for days already judged: beyond the raw window, and inside it
    ingest(range(today - 30, today - 12), only=["deadline-reports"])
    ingest(range(today - 8, today - 4), only=["empty-shell"])
    cached = detect_pass(now)
    fresh = build_inputs(store, apps, config, now)
    assert [_semantic(i) for i in cached] == [_semantic(i) for i in fresh]
    assert sum(len(i.events) for i in cached) > 1000
    assert cut > 0 or slack  # with no slack, the windows' tables were cut
    a = run_fleet(cached, None)
    b = run_fleet(fresh, None)
    assert msgspec.to_builtins(a.findings) == msgspec.to_builtins(b.findings)
    assert {k: v.band for k, v in a.assessments.items()} == {
        k: v.band for k, v in b.assessments.items()
    }
    store.close()


def test_cache_reads_again_when_the_window_reaches_further_back(tmp_path: Path) -> None:
    """A pass judged at an earlier time (or with a longer window after a reload) must not
    reuse a window cut later: it reads everything again."""
    f = Fleet(tmp_path, history_days=20, scale=0.3, apps=APPS[:2])
    f.ingest(range(f.today - 20, f.today + 1))
    fold(f.store, f.config)
    cache = InputCache()
    cache.build(f.store, f.apps, f.config, f.now)
    earlier = f.now - 3 * 86400
    cached = cache.build(f.store, f.apps, f.config, earlier)
    fresh = build_inputs(f.store, f.apps, f.config, earlier)
    # the fresh read has the 3 days the later-cut window lacked
    assert [_semantic(i) for i in cached] == [_semantic(i) for i in fresh]
    f.store.close()


def test_cache_appends_across_day_boundaries_late_events_and_retention(tmp_path: Path) -> None:
    """Passes every 3 hours over two days (past both apps' local midnights, one app in
    New York's time zone), each with the events since the last: the windows grow in
    their rooms, in place. Late events (held back a day, then stored) and a retention
    prune between passes: every pass's inputs are what a fresh read gives."""
    f = Fleet(
        tmp_path, history_days=10, scale=0.3, apps=APPS[:3], zones={APPS[1]: "America/New_York"}
    )
    store, config, apps = f.store, f.config, f.apps
    norm = {a.id: EventNormaliser(a.id, f._p, f.now, 600.0, 0.0) for a in apps}
    pool = {
        a.id: EventColumns.concat(
            [
                norm[a.id].from_rows(f.sim.events_for_day(a.id, d))
                for d in range(f.today - 10, f.today + 1)
            ]
        )
        for a in apps
    }
    start = f.now - 2 * 86400
    late: dict[str, list[EventColumns]] = {a.id: [] for a in apps}

    def store_between(lo: float, hi: float, hold_back: bool = False) -> None:
        for app_id, ev in pool.items():
            rows = (ev.ts > lo) & (ev.ts <= hi)
            if hold_back:  # every 7th event of these hours comes up to a day late
                held = rows & (np.arange(len(ev)) % 7 == 0)
                late[app_id].append(ev.select(np.flatnonzero(held)))
                rows &= ~held
            if rows.any():
                store.ingest(app_id, IngestBatch(events=ev.select(np.flatnonzero(rows))), f.now)

    store_between(-np.inf, start)
    cache = InputCache()
    in_place = 0
    t = start
    for step in range(16):
        at = t + 3 * 3600
        store_between(t, at, hold_back=step < 8)
        if step == 10:
            for app_id, held in late.items():
                store.ingest(app_id, IngestBatch(events=EventColumns.concat(held)), f.now)
        if step == 12:
            store.prune(at, config.daemon.store.raw_retention, 9 * 86400.0)
        before = {a: (c.room, c.room.capacity if c.room else 0) for a, c in cache._apps.items()}
        fold(store, config)
        cached = cache.build(store, apps, config, at)
        fresh = build_inputs(store, apps, config, at)
        assert [_semantic(i) for i in cached] == [_semantic(i) for i in fresh], step
        for a, c in cache._apps.items():
            room, cap = before.get(a, (None, 0))
            in_place += c.room is room is not None and c.room.capacity == cap
        t = at
    assert sum(len(i.events) for i in cached) > 1000
    assert in_place > 16  # most passes appended in the windows' rooms
    assert sum(len(b) for v in late.values() for b in v) > 10  # late events were stored
    store.close()
