"""Step 2a of bulk check-in: chains of check-ins at one place and their measures.

At each place, check-ins are chained into runs with no pause longer than a chaining gap.
Per-chain measures come from grouped numpy reductions over all chains at once: distinct
accounts, duration, the gaps (median, coefficient of variation, share under a second), the
median centre, and the spot spread net of GPS noise. The cheap gates (enough accounts, not
too slow per phone) come first, so the rest is only measured where it matters.

Spread model: a fix = true spot (per-axis sd tau around the centre) + GPS noise (per-axis
sd sigma_i, from the reported accuracy). For every fix E[d^2 / 2 - sigma_i^2] = tau^2, so
tau^2 is estimated by their inverse-variance weighted mean, and the spread reported is the
80 % radius of the spots, 1.79 tau. An accuracy is a measurement only when it varies: a
chain whose fixes all claim one and the same accuracy (a mock-location app's setting) is
read as fixes without accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapwatch.detectors.bulk_checkin.places import Placing
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.geo import distance_m
from tapwatch.detectors.stats import grouped_median
from tapwatch.window import EventWindow

#: Android's accuracy is the 68 % radius of a 2-D normal error: 1.51 sigma.
_SIGMA_PER_ACCURACY = 1.0 / 1.51
#: The 80 % radius of a 2-D normal with per-axis sd tau is 1.79 tau.
_R80_PER_TAU = 1.79
_SPREAD_QUANTILE = 0.8
#: Prior spot spread (m) in the inverse-variance weights, so exact fixes do not dominate.
_TAU_PRIOR_M = 5.0
#: Fixes in a chain all claiming one accuracy from which it is a setting, not a measurement
#: (a GPS estimate changes with every fix, even between two phones side by side).
_SET_ACCURACY_MIN_FIXES = 3


@dataclass(slots=True)
class Candidates:
    """Every chain of at least min_accounts check-ins at one placing and chaining gap, as
    columns (one entry per chain); `idx` lists each chain's positions in `rows`."""

    rows: np.ndarray  # window rows of all chains, chain by chain, time order within
    offs: np.ndarray  # start of each chain in rows
    lens: np.ndarray
    key: np.ndarray  # place key per chain
    n_acc: np.ndarray
    duration: np.ndarray
    busy: np.ndarray  # duration without the operator's pauses (longer than pause_s)
    median_gap: np.ndarray
    gap_cv: np.ndarray
    overlap: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    spread: np.ndarray
    r80: np.ndarray
    accuracy: np.ndarray
    context: np.ndarray

    def __len__(self) -> int:
        return int(self.offs.size)


def candidates(
    win: EventWindow, placing: Placing, gap_s: float, s: Settings, pause_s: float | None = None
) -> Candidates:
    """Chains of check-ins at one place with no pause longer than `gap_s`, and their
    measures. With `pause_s`, gaps longer than it are the operator's pauses between
    sittings and do not count towards the time per phone (`busy`)."""
    rows, key = placing.rows, placing.key
    ts = win.ts[rows]
    n = rows.size
    dt = np.diff(ts)
    brk = np.ones(n, dtype=bool)
    brk[1:] = (key[1:] != key[:-1]) | (dt > gap_s)
    starts = np.flatnonzero(brk)
    lens = np.diff(np.append(starts, n))
    # The cheap gates first, so the measures below are only taken where they matter:
    # enough check-ins, and not too slow per check-in (a chain too slow per check-in is
    # too slow per phone: there are no more phones than check-ins).
    busy = ts[starts + lens - 1] - ts[starts]
    if pause_s is not None and n > 1:
        paused = np.concatenate(([0.0], np.cumsum(np.where(~brk[1:] & (dt > pause_s), dt, 0.0))))
        busy = busy - (paused[starts + lens - 1] - paused[starts])
    cheap = (lens >= s.min_accounts) & (busy <= s.max_seconds_per_phone * (lens - 1))
    starts, lens, busy = starts[cheap], lens[cheap], busy[cheap]
    n_acc = _distinct_per_group(win.account[rows], starts, lens)
    per_phone_ok = busy <= s.max_seconds_per_phone * np.maximum(n_acc - 1, 1)
    ok = (n_acc >= s.min_accounts) & per_phone_ok
    starts, lens, n_acc, busy = starts[ok], lens[ok], n_acc[ok], busy[ok]
    nb = starts.size
    offs = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    idx = np.repeat(starts - offs, lens) + np.arange(int(lens.sum()))
    r = rows[idx]
    bid = np.repeat(np.arange(nb), lens)
    t = ts[idx]
    gaps = _gap_measures(t, bid, lens, nb)
    lat, lon, spread, r80, acc = _spread(win, r, bid, nb, s)
    return Candidates(
        rows=r,
        offs=offs,
        lens=lens,
        key=key[starts],
        n_acc=n_acc,
        duration=t[offs + lens - 1] - t[offs] if nb else np.zeros(0),
        busy=busy,
        median_gap=gaps[0],
        gap_cv=gaps[1],
        overlap=gaps[2],
        lat=lat,
        lon=lon,
        spread=spread,
        r80=r80,
        accuracy=acc,
        context=_context(ts, key, starts, lens, s.context_s),
    )


def _distinct_per_group(values: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Distinct values in each run values[starts[i] : starts[i] + lens[i]]."""
    n = starts.size
    offs = np.cumsum(lens) - lens
    g = np.repeat(np.arange(n), lens)
    v = values[np.repeat(starts - offs, lens) + np.arange(int(lens.sum()))]
    o = np.lexsort((v, g))
    v, g = v[o], g[o]
    first = np.ones(v.size, dtype=bool)
    first[1:] = (v[1:] != v[:-1]) | (g[1:] != g[:-1])
    return np.bincount(g[first], minlength=n)


def _gap_measures(
    t: np.ndarray, bid: np.ndarray, lens: np.ndarray, nb: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median gap, coefficient of variation of the gaps, share of gaps under a second."""
    g = np.diff(t)
    inside = bid[1:] == bid[:-1]
    g, gb = g[inside], bid[1:][inside]
    cnt = (lens - 1).astype(np.float64)
    mean = np.bincount(gb, weights=g, minlength=nb) / cnt
    var = np.maximum(np.bincount(gb, weights=g * g, minlength=nb) / cnt - mean**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(mean > 0, np.sqrt(var) / mean, np.inf)
    overlap = np.bincount(gb, weights=(g < 1.0), minlength=nb) / cnt
    return grouped_median(gb, g, nb), cv, overlap


def _spread(
    win: EventWindow, r: np.ndarray, bid: np.ndarray, nb: int, s: Settings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median centre, spot spread net of GPS noise, raw 80 % radius and median accuracy per
    chain. Distances are capped at the chain's raw 80 % radius, so one wild fix cannot blow
    the spread up; a fix without accuracy gets `assumed_accuracy_m` (with 0: no noise,
    which only makes the spread look larger)."""
    la, lo = win.lat[r], win.lon[r]
    ok = np.isfinite(la) & np.isfinite(lo)
    bo = bid[ok]
    clat = grouped_median(bo, la[ok], nb)
    clon = grouped_median(bo, lo[ok], nb)
    d = distance_m(la[ok], lo[ok], clat[bo], clon[bo])
    r80 = _grouped_quantile(bo, d, nb, _SPREAD_QUANTILE)
    am = win.accuracy_m[r].astype(np.float64)
    am[_set_accuracy(am, bid, nb)[bid]] = np.nan
    assumed = s.assumed_accuracy_m if s.assumed_accuracy_m else np.nan
    am = np.where(np.isfinite(am), am, assumed)
    aok = np.isfinite(am)
    acc_med = np.nan_to_num(grouped_median(bid[aok], am[aok], nb), nan=0.0)
    sig2 = (np.nan_to_num(am[ok], nan=0.0) * _SIGMA_PER_ACCURACY) ** 2
    dc = np.minimum(d, r80[bo])
    wgt = 1.0 / (_TAU_PRIOR_M**2 + sig2) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = np.bincount(bo, weights=wgt * (dc * dc / 2.0 - sig2), minlength=nb) / np.bincount(
            bo, weights=wgt, minlength=nb
        )
    spread = _R80_PER_TAU * np.sqrt(np.maximum(tau2, 0.0))  # NaN stays NaN: unmeasured
    return clat, clon, spread, r80, acc_med


def _set_accuracy(am: np.ndarray, bid: np.ndarray, nb: int) -> np.ndarray:
    """Per chain: every fix reports the very same accuracy. A mock-location app claims a
    fixed 1-10 m whatever it places; real estimates differ from fix to fix."""
    if nb == 0:
        return np.zeros(0, dtype=bool)
    first = np.flatnonzero(np.concatenate(([True], bid[1:] != bid[:-1])))
    known = np.isfinite(am)
    lo = np.minimum.reduceat(np.where(known, am, np.inf), first)
    hi = np.maximum.reduceat(np.where(known, am, -np.inf), first)
    n_known = np.bincount(bid[known], minlength=nb)
    lens = np.bincount(bid, minlength=nb)
    return (n_known == lens) & (lens >= _SET_ACCURACY_MIN_FIXES) & (lo == hi)


def _grouped_quantile(groups: np.ndarray, values: np.ndarray, n: int, q: float) -> np.ndarray:
    """Lower q-quantile of values per group code in [0, n); NaN for empty groups."""
    out = np.full(n, np.nan)
    if values.size == 0:
        return out
    order = np.lexsort((values, groups))
    counts = np.bincount(groups, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    pos = starts[has] + np.ceil(q * (counts[has] - 1)).astype(np.int64)
    out[has] = values[order][pos]
    return out


def _context(
    ts: np.ndarray, key: np.ndarray, starts: np.ndarray, lens: np.ndarray, context_s: float
) -> np.ndarray:
    """Other check-ins at the same place within context_s before or after each chain
    (among those that passed the density prefilter: a lone check-in far from any other is
    dropped there and not counted)."""
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64)
    place_no = np.cumsum(np.concatenate(([True], key[1:] != key[:-1])))
    t_min = float(ts.min())
    comp = place_no * (float(ts.max()) - t_min + 4 * context_s + 1.0) + (ts - t_min)
    first_c, last_c = comp[starts], comp[starts + lens - 1]
    around = np.searchsorted(comp, last_c + context_s, side="right") - np.searchsorted(
        comp, first_c - context_s, side="left"
    )
    return around - lens
