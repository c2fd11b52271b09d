"""The store's health on /metrics (the daemon keeps the state: daemon/store_health.py).

Every reason is always exported, 0 or 1, so `tapwatch_store_fault{reason="full"} == 1`
selects a series that exists whether or not the store ever failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tapwatch.exporters.exposition import Exposition
from tapwatch.store.health import StoreFault


class StoreHealthView(Protocol):
    """What /metrics reads of the store's health."""

    @property
    def fault(self) -> StoreFault | None:
        """Why the store does not take writes now (None while it does)."""
        ...

    @property
    def write_failures(self) -> Mapping[StoreFault, int]: ...


def store_health_families(x: Exposition, health: StoreHealthView) -> None:
    """Add the store-health families to a page."""
    fault = health.fault
    x.family(
        "tapwatch_store_healthy",
        "gauge",
        "1 while the store takes writes; 0 from a failed store call until a probe write "
        "(every 5 s) succeeds. Polls wait meanwhile (nothing is lost) and /readyz answers 503.",
        [({}, 1 if fault is None else 0)],
    )
    x.family(
        "tapwatch_store_fault",
        "gauge",
        "1 for the reason the store does not take writes now, 0 for the others: readonly "
        "(file or filesystem refuses writes), full (no space), io (I/O errors), corrupt "
        "(damaged file), locked (another process holds the write lock).",
        [({"reason": f.value}, 1 if fault is f else 0) for f in StoreFault],
    )
    x.family(
        "tapwatch_store_write_failures",
        "counter",
        "Failed calls on the store's writer connection (poll commits, findings, pruning, "
        "and the probe write every 5 s while the store fails), by reason.",
        [({"reason": f.value}, health.write_failures.get(f, 0)) for f in StoreFault],
    )
