"""Several apps' columns stacked one after another, for detectors that judge many apps in
one pass of array operations (`detect_batch`).

An app of the fleet holds a thousand or so rows: on arrays that small a numpy call's fixed
cost outweighs its arithmetic, and 2,000 apps times a few dozen calls each cost more than
the same few dozen calls over every app's rows at once. The rows of app k are
`starts[k]:starts[k + 1]` of a stacked column; its account codes (and string codes) are
shifted by `account_starts[k]` (`string_starts[k]`), the apps' tables one after another,
so a code of one app never equals another's. A detector stacks the columns it needs for
the time of its call (a copy of each: concatenating a column of 2,000 apps takes a
millisecond or two, and keeping them for the whole pass would hold some 100 MB; a single
app's column is not copied but seen read-only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.stats import local_days as zone_days


@dataclass(frozen=True, slots=True)
class Stack:
    """Where each app's rows and codes start in the stacked columns of one table (the
    raw windows' or the account-day rollups')."""

    starts: np.ndarray  # int64, n + 1: app k's rows are starts[k]:starts[k + 1]
    account_starts: np.ndarray  # int64, n + 1: app k's account codes shifted by this
    string_starts: np.ndarray  # int64, n + 1 (raw windows only; zeros for rollups)
    _owner: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    @property
    def owner(self) -> np.ndarray:
        """int32 per row: the index of its app (made when first asked for: a row each,
        1.3M for analyze's rollups, which detectors that take `owners_of` never need)."""
        if not self._owner:
            n = self.starts.size - 1
            self._owner.append(np.repeat(np.arange(n, dtype=np.int32), np.diff(self.starts)))
        return self._owner[0]

    def rows(self, k: int) -> slice:
        """App k's rows of a stacked column."""
        return slice(int(self.starts[k]), int(self.starts[k + 1]))

    def accounts(self, k: int) -> slice:
        """App k's codes of the stacked account coding."""
        return slice(int(self.account_starts[k]), int(self.account_starts[k + 1]))

    def per_app(self, codes_owner: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Count (or sum `weights`) per app of rows owned by `codes_owner` (app indices)."""
        n = self.starts.size - 1
        return np.bincount(codes_owner, weights=weights, minlength=n)


#: rows (raw events and account-days) of the apps stacked at once: enough to spread a
#: numpy call's fixed cost over many apps, few enough that the stacked columns and their
#: temporaries stay a few megabytes, in cache (over 2,000 apps' 3.9M rows, runs of 2**18
#: rows took 0.31 s in four batch detectors; 2**16 0.32, 2**20 0.36, all at once 0.41)
RUN_ROWS = 1 << 18


def runs(inputs: Sequence[DetectorInput]) -> list[list[DetectorInput]]:
    """The inputs cut into runs of apps, in order, each closed once it holds RUN_ROWS rows
    (an app is never cut)."""
    out: list[list[DetectorInput]] = [[]]
    rows = 0
    for inp in inputs:
        if out[-1] and rows >= RUN_ROWS:
            out.append([])
            rows = 0
        out[-1].append(inp)
        rows += len(inp.events) + len(inp.account_days)
    return out


def _offsets(sizes: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def _stack(sizes: list[int], accounts: list[int], strings: list[int]) -> Stack:
    return Stack(_offsets(sizes), _offsets(accounts), _offsets(strings))


def events_stack(inputs: Sequence[DetectorInput]) -> Stack:
    """The stack of the apps' raw windows."""
    return _stack(
        [len(i.events) for i in inputs],
        [len(i.events.accounts) for i in inputs],
        [len(i.events.strings) for i in inputs],
    )


def account_days_stack(inputs: Sequence[DetectorInput]) -> Stack:
    """The stack of the apps' account-day rollups."""
    return _stack(
        [len(i.account_days) for i in inputs],
        [len(i.account_days.accounts) for i in inputs],
        [0] * len(inputs),
    )


def app_hours_stack(inputs: Sequence[DetectorInput]) -> Stack:
    """The stack of the apps' hourly rollups (no accounts or strings)."""
    none = [0] * len(inputs)
    return _stack([len(i.app_hours) for i in inputs], none, none)


def _stacked(cols: list[np.ndarray]) -> np.ndarray:
    """The columns one after another; a single app's column itself, read-only (no copy:
    `tapwatch analyze` judges one app of 1.3M rollup rows, ~1 ms a copy, a dozen a
    window)."""
    if len(cols) == 1:
        out = cols[0].view()
        out.flags.writeable = False
        return out
    return np.concatenate(cols)


def app_hours_column(inputs: Sequence[DetectorInput], name: str) -> np.ndarray:
    """One column of the apps' hourly rollups, stacked."""
    return _stacked([getattr(i.app_hours, name) for i in inputs])


def events_column(inputs: Sequence[DetectorInput], name: str) -> np.ndarray:
    """One column of the apps' raw windows, stacked."""
    return _stacked([getattr(i.events, name) for i in inputs])


def account_days_column(inputs: Sequence[DetectorInput], name: str) -> np.ndarray:
    """One column of the apps' account-day rollups, stacked."""
    return _stacked([getattr(i.account_days, name) for i in inputs])


def in_day_span(stack: Stack, day: np.ndarray, first: np.ndarray, span: int) -> np.ndarray:
    """Whether each stacked row's `day` is in [first[k], first[k] + span) of its app k.
    Each app's first day is repeated over its rows, not gathered by `owner` (1.3M rows:
    0.1 ms against 1.8), and one unsigned comparison of the difference tells both bounds:
    a day before the first wraps to a huge one."""
    wide = day.dtype != np.int32 or np.abs(first).max(initial=0) >= 2**30
    base = first.astype(np.int64 if wide else np.int32)
    # one app (analyze): its first day as a scalar
    rel = day.astype(base.dtype, copy=False) - (
        base[0] if base.size == 1 else np.repeat(base, np.diff(stack.starts))
    )
    return rel.view(np.uint64 if wide else np.uint32) < span


def owners_of(stack: Stack, rows: np.ndarray) -> np.ndarray:
    """The app index (int32) of each of these stacked rows, ascending: each app's share of
    them repeated, not gathered row by row from `owner`."""
    counts = np.diff(np.searchsorted(rows, stack.starts))
    return np.repeat(np.arange(counts.size, dtype=np.int32), counts)


def local_days(inputs: Sequence[DetectorInput], owner: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Local day number of each timestamp in its app's time zone (`owner`: the app index of
    each), one conversion per distinct zone."""
    zones = [i.app.timezone for i in inputs]
    distinct = list(dict.fromkeys(zones))
    if len(distinct) == 1:
        return zone_days(ts, distinct[0])
    zone_of_app = np.array([distinct.index(z) for z in zones], dtype=np.int64)[owner]
    out = np.empty(ts.size, dtype=np.int64)
    for code, tz in enumerate(distinct):
        rows = np.flatnonzero(zone_of_app == code)
        out[rows] = zone_days(ts[rows], tz)
    return out
