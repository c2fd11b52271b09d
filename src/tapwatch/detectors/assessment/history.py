"""The app against its own past: use in the judged 30 days over its peak 30 days, or over
the same 30 days a year earlier for a seasonal app, over the whole rollup horizon.

Comparing the last 30 days only with the 30 before misses a slow death: a portal that
lost nearly all its users over a year is near zero in both. "Use" is account-days with a
meaningful action (each day's distinct accounts that got something done, summed), so one
heavy user cannot stand in for many and a week-long holiday lowers it by a quarter, not
to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapwatch.detectors.base import DailyUsage

_MONTH = 30
_YEAR = 365


@dataclass(frozen=True, slots=True)
class PastUse:
    """The judged window's use against a baseline from the app's own history."""

    level: int  # account-days with a meaningful action in the judged 30 days
    baseline: float  # the same measure at the baseline
    basis: str  # "peak" or "year_earlier"
    baseline_end_day: int  # last day of the baseline's 30 days
    ratio: float  # level / baseline


def _monthly_sums(history: DailyUsage, first: int, last: int) -> np.ndarray:
    """Sum of meaningful account-days over the 30 days ending on each day first..last."""
    span = last - first + _MONTH
    daily = np.zeros(span, dtype=np.int64)
    lo = first - _MONTH + 1
    sel = (history.day >= lo) & (history.day <= last)
    daily[history.day[sel] - lo] = history.meaningful_accounts[sel]
    csum = np.concatenate(([0], np.cumsum(daily)))
    return csum[_MONTH:] - csum[:-_MONTH]


def past_use(
    history: DailyUsage, ref_day: int, first_day: int, seasonal: bool, min_history_days: int
) -> PastUse | None:
    """Use in the 30 days to `ref_day` against the app's past, or None when the history
    before them is shorter than `min_history_days` or held no use at all.

    `first_day` is the first day tapwatch has data for the app (days before it are
    unknown, not idle). A seasonal app is compared with the same 30 days a year earlier
    when they are held (its peak otherwise); any other app with its busiest 30 days
    before the judged window.
    """
    win_first = ref_day - _MONTH + 1
    if win_first - first_day < min_history_days:
        return None
    level = int(_monthly_sums(history, ref_day, ref_day)[0])
    year_end = ref_day - _YEAR
    if seasonal and year_end - _MONTH + 1 >= first_day:
        base = float(_monthly_sums(history, year_end, year_end)[0])
        basis, end = "year_earlier", year_end
    else:
        # windows wholly inside the held history and before the judged one
        sums = _monthly_sums(history, first_day + _MONTH - 1, win_first - 1)
        best = int(np.argmax(sums))
        base = float(sums[best])
        basis, end = "peak", first_day + _MONTH - 1 + best
    if base <= 0:
        return None
    return PastUse(level, base, basis, end, round(level / base, 4))
