"""The detector pass, run in a worker process.

Building windows from the store and running the detectors is CPU-bound Python and numpy:
in the daemon's own process it would hold the GIL for seconds and delay every poll. A
worker process (one per daemon, kept warm) runs it on the other core; it reads the store
through its own read-only connection (SQLite WAL lets it read while the daemon writes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tapwatch.config import AppConfig, Config, app_profile
from tapwatch.detectors.base import DetectorInput, UsageSnapshot
from tapwatch.detectors.engine import run_fleet
from tapwatch.store.sqlite import Store
from tapwatch.window import local_day_of

_stores: dict[Path, Store] = {}


def build_inputs(
    store: Store, apps: list[AppConfig], config: Config, now: float
) -> list[DetectorInput]:
    """Detector inputs for these apps, read from the store."""
    det = config.daemon.detect
    out = []
    for app in apps:
        profile = app_profile(app, config.daemon)
        today = local_day_of(now, profile.timezone)
        since_day = today - det.rollup_days
        first = store.first_event_ts(app.id)
        seen = store.data_since(app.id)
        data_since = min((t for t in (first, seen) if t is not None), default=None)
        out.append(
            DetectorInput(
                app=profile,
                now=now,
                events=store.event_window(app.id, now - det.raw_window),
                account_days=store.account_days(app.id, since_day),
                app_hours=store.app_hours(app.id, since_day),
                snapshot=store.snapshot(app.id),
                data_since=data_since,
            )
        )
    return out


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
        label: int(np.unique(ad.account[ad.day > today - days]).size)
        for label, days in (("1d", 1), ("7d", 7), ("30d", 30))
    }


@dataclass
class DetectPass:
    """What one pass gives back to the daemon (all picklable)."""

    result: object  # engine.FleetResult
    active_accounts: dict[str, dict[str, int]]
    snapshots: dict[str, UsageSnapshot]


def run_detect_pass(
    store: Store | Path, apps: list[AppConfig], config: Config, now: float
) -> DetectPass:
    """Build every app's inputs from the store and run the engine (pure but for reads)."""
    if isinstance(store, Path):
        s = _stores.get(store)
        if s is None:
            s = _stores[store] = Store(store, readonly=True)
        store = s
    inputs: list[DetectorInput] = build_inputs(store, apps, config, now)
    result = run_fleet(inputs, config.daemon.detectors)
    return DetectPass(
        result=result,
        active_accounts={i.app.id: active_accounts(i) for i in inputs},
        snapshots={i.app.id: i.snapshot for i in inputs if i.snapshot},
    )
