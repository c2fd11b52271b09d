"""The detector pass, run in a worker process.

Building windows from the store and running the detectors is CPU-bound Python and numpy:
in the daemon's own process it would hold the GIL for seconds and delay every poll. A
worker process (one per daemon, kept warm) runs it on the other core; it reads the store
through its own read-only connection (SQLite WAL lets it read while the daemon writes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tapwatch.config import AppConfig, Config
from tapwatch.detectors.base import DetectorInput, UsageSnapshot
from tapwatch.store.sqlite import Store

_stores: dict[Path, Store] = {}


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
    from tapwatch.daemon.runtime import active_accounts, build_inputs
    from tapwatch.detectors.engine import run_fleet

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
