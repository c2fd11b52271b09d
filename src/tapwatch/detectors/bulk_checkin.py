"""Bulk check-in: one person carrying many phones and checking everyone in at once.

A district app demanded photo check-ins at "risk points" every day; officials answered by
having one person carry 10+ phones and check everyone in. What that leaves in telemetry is
physical, not statistical:

* many distinct accounts check in at one place, one after another;
* **serial arrivals**: one person taps one phone at a time, so consecutive check-ins come
  a few seconds apart (``min_tap_gap_s``..``max_tap_gap_s``), at a steady rhythm (low
  coefficient of variation of the gaps) and never two in the same second;
* **one spot**: the phones' fixes sit within ``max_spread_m`` of each other, once the
  spread that GPS noise alone explains (from ``accuracy_m``) is taken out;
* corroboration: shared network, device model, device or photo; accounts whose other
  activity puts them elsewhere at the same time, or who never otherwise come to the place;
  the same account set again on other days.

Crowds do not look like this: people at a meeting arrive together (same-second check-ins,
irregular gaps), colleagues clocking in spread over tens of minutes, friends are 2-4, and a
transit hub is spread over a wide area with overlapping arrivals.

Method (vectorised; only the flagged bursts become Python objects):

1. Check-ins are placed at a declared point (their ``point`` code, or the nearest declared
   point whose radius holds the fix) or else in grid cells of ``cell_m``. Three grids
   shifted by a third of a cell are used, so any group of fixes less than ``cell_m / 3``
   across lies wholly inside one cell of at least one grid.
2. A hash count over (place, time bucket) drops the check-ins that cannot be part of
   ``min_accounts`` arrivals chained by ``max_gap_s`` (two time bucketings offset by half a
   bucket, so no qualifying run is ever split). Usually this leaves a tiny share.
3. The rest is sorted by place then time and chained into bursts (gap <= ``max_gap_s``);
   per-burst statistics (distinct accounts, gap median / CV / same-second share, 80th
   percentile radius of the fixes) come from grouped numpy reductions.
4. Bursts passing the physical gates are de-duplicated across grids, linked across days
   by place and Jaccard similarity of their account sets, corroborated and scored:
   ``score = 1 - (1 - size) * prod(1 - weight of each corroboration present)``.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.geo import (
    assign_points,
    cell_scale,
    distance_m,
    offsets_m,
)
from tapwatch.detectors.stats import (
    EVIDENCE_LIMIT,
    bounded_event_ids,
    data_confidence,
    day_to_date,
    grouped_median,
    local_day_and_second,
)
from tapwatch.events import EventType
from tapwatch.window import EventWindow

KIND = "bulk_checkin"
RULE_CHECKIN = "2026 management measures: no mandatory check-in"
RULE_UPLOADS = "2026 management measures: no unnecessary photo or GPS uploads"

#: Spread model: a fix = true spot (per-axis sd tau around the centre) + GPS noise (per-axis
#: sd sigma_i). Android's accuracy is the 68 % radius of a 2-D normal error: 1.51 sigma.
_SIGMA_PER_ACCURACY = 1.0 / 1.51
#: The 80 % radius of a 2-D normal with per-axis sd tau is 1.79 tau.
_R80_PER_TAU = 1.79
_SPREAD_QUANTILE = 0.8
#: Prior spot spread (m) in the inverse-variance weights, so exact fixes do not dominate.
_TAU_PRIOR_M = 5.0
#: Grid shifts (in cells): three grids shifted by a third of a cell.
_GRID_SHIFTS = (0.0, 1.0 / 3.0, 2.0 / 3.0)
#: Multiplicative hash constants (odd 64-bit, from splitmix64 / xxhash).
_H1 = np.uint64(0x9E3779B97F4A7C15)
_H2 = np.uint64(0xC2B2AE3D27D4EB4F)
#: Density prefilter: time buckets per counting chunk, and hash-table slots per row (about
#: 2 % of isolated rows then share a slot with two others and pass needlessly).
_CHUNK_BUCKETS = 32
_TABLE_PER_ROW = 4


class Settings(BaseModel):
    """Settings of the bulk check-in detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell_m: float = Field(
        default=120.0,
        gt=0,
        description="Grid cell size in metres for check-ins not at a declared point; groups "
        "of phones up to cell_m / 3 across are always seen whole.",
    )
    max_gap_s: float = Field(
        default=20.0,
        gt=0,
        description="Check-ins at one place this close in time are chained into one burst.",
    )
    min_accounts: int = Field(
        default=3, ge=2, description="Fewest distinct accounts in a burst worth judging."
    )
    strong_accounts: int = Field(
        default=8,
        ge=3,
        description="Distinct accounts at which the burst size alone gives size_weight.",
    )
    min_tap_gap_s: float = Field(
        default=1.0,
        ge=0,
        description="Gaps shorter than this are 'same second' arrivals, which one person "
        "tapping one phone at a time cannot produce.",
    )
    max_tap_gap_s: float = Field(
        default=15.0,
        gt=0,
        description="Largest median gap between arrivals that still looks like one person "
        "going from phone to phone.",
    )
    max_gap_cv: float = Field(
        default=0.75,
        gt=0,
        description="Largest coefficient of variation of the gaps (a steady rhythm is low; "
        "independent arrivals of a crowd are about 1).",
    )
    max_overlap_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Largest share of gaps shorter than min_tap_gap_s.",
    )
    max_spread_m: float = Field(
        default=15.0,
        gt=0,
        description="Largest radius (metres) holding 80 % of the phones around their median "
        "spot, estimated net of the GPS noise their reported accuracy explains.",
    )
    assumed_accuracy_m: float = Field(
        default=15.0,
        ge=0,
        description="Accuracy (68 % radius, metres) taken for a fix that reports none: a "
        "phone's fix is typically good to 5-10 m in the open and 10-20 m beside or inside "
        "buildings, where check-in points usually are. 0 treats such fixes as exact (their "
        "noise then counts as spread).",
    )
    shared_share: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Share of a burst's check-ins on one network (or one device model) that "
        "counts as shared hardware.",
    )
    max_chance_p: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="A shared network or device model only counts if that many phones would "
        "share it by chance (binomial, from its share of the window's check-ins) with at most "
        "this probability: a popular phone model or a carrier's address block does not count.",
    )
    photo_dup_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Share of a burst's photos that repeat another photo of the burst.",
    )
    accounts_per_device: float = Field(
        default=1.5,
        gt=1,
        description="Accounts per distinct device in a burst at which devices count as shared.",
    )
    elsewhere_m: float = Field(
        default=1000.0,
        gt=0,
        description="Distance from the burst at which an account's other activity is 'elsewhere'.",
    )
    max_travel_speed_mps: float = Field(
        default=30.0,
        gt=0,
        description="Other activity of an account is 'elsewhere at the same time' when getting "
        "from it to the account's check-in in the burst needs more than this speed (m/s).",
    )
    elsewhere_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Share of a burst's accounts seen elsewhere at the same time to corroborate.",
    )
    never_here_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of accounts with no check-in at the place outside the bursts "
        "to corroborate.",
    )
    link_jaccard: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Jaccard similarity of account sets at which bursts are one ring.",
    )
    link_distance_m: float = Field(
        default=100.0,
        gt=0,
        description="Bursts (not at a declared point) whose centres are this close are at "
        "one place for linking and for 'never otherwise here'.",
    )
    size_weight: float = Field(
        default=0.75,
        gt=0,
        lt=1,
        description="Score from size alone at strong_accounts (rising linearly from "
        "min_accounts - 1 accounts).",
    )
    weight_network: float = Field(
        default=0.35, ge=0, lt=1, description="Weight of a shared network."
    )
    weight_device_model: float = Field(
        default=0.25, ge=0, lt=1, description="Weight of a shared device model."
    )
    weight_device: float = Field(
        default=0.5, ge=0, lt=1, description="Weight of several accounts on the same devices."
    )
    weight_photo: float = Field(default=0.5, ge=0, lt=1, description="Weight of repeated photos.")
    weight_elsewhere: float = Field(
        default=0.5, ge=0, lt=1, description="Weight of accounts elsewhere at the same time."
    )
    weight_never_here: float = Field(
        default=0.15, ge=0, lt=1, description="Weight of accounts never otherwise at the place."
    )
    weight_repeat: float = Field(
        default=0.35, ge=0, lt=1, description="Weight of the same accounts on several days."
    )
    context_s: float = Field(
        default=300.0,
        ge=0,
        description="Seconds before and after a burst in which other check-ins at the same "
        "place are counted: a burst inside a steady stream of arrivals is a crowd.",
    )
    max_context_share: float = Field(
        default=0.5,
        ge=0,
        description="Most other check-ins at the place within context_s, per check-in of "
        "the burst, for the burst to stand alone.",
    )
    min_score: float = Field(
        default=0.6, gt=0, le=1, description="Score at or above which a finding is reported."
    )
    critical_score: float = Field(
        default=0.85, gt=0, le=1, description="Score at or above which a finding is critical."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.min_tap_gap_s >= self.max_tap_gap_s:
            raise ValueError("min_tap_gap_s must be below max_tap_gap_s")
        if self.max_tap_gap_s > self.max_gap_s:
            raise ValueError("max_tap_gap_s must not exceed max_gap_s")
        if self.strong_accounts <= self.min_accounts - 1:
            raise ValueError("strong_accounts must be at least min_accounts")
        if self.critical_score < self.min_score:
            raise ValueError("critical_score must not be below min_score")
        return self


@dataclass(slots=True)
class _Burst:
    """One chain of serial check-ins that passed the physical gates."""

    rows: np.ndarray  # window rows, time order
    place_key: int  # declared/undeclared point key (>= 0) or -1 for a cell
    point: str | None
    lat: float  # median fix (NaN if no fix)
    lon: float
    n_accounts: int
    median_gap: float
    gap_cv: float
    overlap_share: float
    spread_m: float  # accuracy-corrected 80 % radius (NaN if unmeasured)
    radius_m: float  # raw 80 % radius
    accuracy_m: float
    context: int  # other check-ins at the place within context_s
    accounts: frozenset[int] = field(default_factory=frozenset)


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """Bulk check-in findings for one app (see the module docstring)."""
    win = inp.events
    if len(win) == 0:
        return []
    bursts = _gated_bursts(inp, settings)
    if not bursts:
        return []
    rings = _link(bursts, settings)
    ctx = _AccountActivity(win, sorted({a for b in bursts for a in b.accounts}))
    base = _BaseRates(win)
    findings = []
    for ring in rings:
        f = _finding(inp, [bursts[i] for i in ring], ctx, base, settings)
        if f is not None:
            findings.append(f)
    findings.sort(key=lambda f: (f.window_start, f.id))
    return findings


# --- stage 1-3: candidate bursts, vectorised -------------------------------------------


def _gated_bursts(inp: DetectorInput, s: Settings) -> list[_Burst]:
    win = inp.events
    is_checkin = win.type == np.uint8(EventType.checkin)
    if is_checkin.all():
        ck = None
        ts, lat, lon, pcode = win.ts, win.lat, win.lon, win.point
    else:
        ck = np.flatnonzero(is_checkin)
        if ck.size == 0:
            return []
        ts, lat, lon, pcode = win.ts[ck], win.lat[ck], win.lon[ck], win.point[ck]
    has_xy = np.isfinite(lat) & np.isfinite(lon)
    place, point_names = _place_keys(win, inp.app.points, lat, lon, pcode, has_xy)

    def window_rows(sub: np.ndarray | None) -> np.ndarray:
        if sub is None:
            return np.arange(ts.shape[0]) if ck is None else ck
        return sub if ck is None else ck[sub]

    found: list[_Burst] = []
    at_point = place >= 0
    if at_point.any():
        sub = np.flatnonzero(at_point)
        keep = _TimeBuckets(ts[sub], s).dense(place[sub], s)
        found.extend(
            _bursts_of(win, window_rows(sub[keep]), place[sub][keep], True, point_names, s)
        )
        on_grid = ~at_point & has_xy
    else:
        on_grid = has_xy
    if on_grid.all():  # the common case: no copies of the columns
        sub, c_ts, c_lat, c_lon = None, ts, lat, lon
    else:
        sub = np.flatnonzero(on_grid)
        c_ts, c_lat, c_lon = ts[sub], lat[sub], lon[sub]
    if c_ts.size >= s.min_accounts:
        dlat, dlon = cell_scale(c_lat, s.cell_m)
        # Cell coordinates from a fixed origin (so a cell does not depend on what else is
        # in the window), non-negative so that truncation is flooring.
        u = (c_lon + 180.0) / dlon
        v = (c_lat + 90.0) / dlat
        buckets = _TimeBuckets(c_ts, s)
        grid_rows = window_rows(sub)
        for shift in _GRID_SHIFTS:
            key = ((u + shift).astype(np.int64) << 32) | (v + shift).astype(np.int64)
            keep = buckets.dense(key, s)
            found.extend(_bursts_of(win, grid_rows[keep], key[keep], False, point_names, s))
    return _dedupe(found)


def _bursts_of(
    win: EventWindow,
    rows: np.ndarray,
    key: np.ndarray,
    is_point: bool,
    point_names: dict[int, str],
    s: Settings,
) -> list[_Burst]:
    """Gated bursts among rows (time order) at places `key`."""
    if rows.size < s.min_accounts:
        return []
    order = np.argsort(key, kind="stable")  # rows are in time order: stable keeps it
    return _chain_and_gate(win, rows[order], key[order], is_point, point_names, s)


def _place_keys(
    win: EventWindow,
    points: tuple,
    lat: np.ndarray,
    lon: np.ndarray,
    pcode: np.ndarray,
    has_xy: np.ndarray,
) -> tuple[np.ndarray, dict[int, str]]:
    """Point key per check-in (-1 = none): declared points are 0..P-1 (by their order),
    point codes the app sends but never declared follow. Also the key -> point name map."""
    declared = {p.id: i for i, p in enumerate(points)}
    names: dict[int, str] = {i: p.id for i, p in enumerate(points)}
    place = np.full(lat.shape[0], -1, dtype=np.int64)
    has_code = pcode >= 0
    if has_code.any():
        used = np.flatnonzero(np.bincount(pcode[has_code]))
        lut = np.full(int(used.max()) + 1, -1, dtype=np.int64)
        extra = len(points)
        for c in used.tolist():
            name = win.strings[c]
            k = declared.get(name)
            if k is None:
                k = extra
                extra += 1
                names[k] = name
            lut[c] = k
        place[has_code] = lut[pcode[has_code]]
    if points:
        free = np.flatnonzero(~has_code & has_xy)
        if free.size:
            p_lat = np.array([p.lat for p in points])
            p_lon = np.array([p.lon for p in points])
            p_rad = np.array([p.radius_m for p in points])
            place[free] = assign_points(lat[free], lon[free], p_lat, p_lon, p_rad)
    return place, names


class _TimeBuckets:
    """Density prefilter over (place, time bucket), for check-ins in time order.

    A check-in is kept if its (place, time bucket) holds >= min_accounts check-ins in one
    of two bucketings offset by half a bucket. Any run of min_accounts consecutive arrivals
    chained by max_gap_s spans at most (min_accounts - 1) * max_gap_s, under half a bucket,
    so it lies inside one bucket of one bucketing. Hash collisions only let extra rows
    through. Counting runs over time chunks of _CHUNK_BUCKETS buckets with a small table
    each (_TABLE_PER_ROW slots per row): it stays in cache, where one table for the whole
    window would miss it on nearly every row. The buckets are computed once and reused by
    every grid."""

    def __init__(self, ts: np.ndarray, s: Settings) -> None:
        self.n = ts.shape[0]
        span = (2 * (s.min_accounts - 1) + 1) * s.max_gap_s
        self.bucketings: list[tuple[np.ndarray, list[int]]] = []
        if self.n == 0:
            return
        t = ts - ts[0]
        for offset in (0.0, span / 2.0):
            tb = np.floor((t + offset) / span).astype(np.int64)
            chunk = tb // _CHUNK_BUCKETS
            edges = np.concatenate(([0], np.flatnonzero(chunk[1:] != chunk[:-1]) + 1, [self.n]))
            self.bucketings.append((tb.view(np.uint64) * _H2, edges.tolist()))

    def dense(self, key: np.ndarray, s: Settings) -> np.ndarray:
        """True for the rows that may belong to a qualifying run at their place `key`."""
        keep = np.zeros(self.n, dtype=bool)
        kh = key.view(np.uint64) * _H1
        for tbh, edges in self.bucketings:
            h_all = (kh ^ tbh) * _H1
            for a, b in itertools.pairwise(edges):
                if b - a < s.min_accounts:
                    continue
                bits = max(10, math.ceil(math.log2((b - a) * _TABLE_PER_ROW)))
                h = (h_all[a:b] >> np.uint64(64 - bits)).astype(np.intp)
                counts = np.bincount(h, minlength=1 << bits)
                keep[a:b] |= counts[h] >= s.min_accounts
        return keep


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


def _chain_and_gate(
    win: EventWindow,
    rows: np.ndarray,
    key: np.ndarray,
    is_point: bool,
    point_names: dict[int, str],
    s: Settings,
) -> list[_Burst]:
    """Chain rows (sorted by place, then time) into bursts and keep those that pass the
    physical gates of one person tapping phones one after another at one spot."""
    ts = win.ts[rows]
    n = rows.size
    brk = np.ones(n, dtype=bool)
    brk[1:] = (key[1:] != key[:-1]) | (np.diff(ts) > s.max_gap_s)
    starts = np.flatnonzero(brk)
    lens = np.diff(np.append(starts, n))
    big = lens >= s.min_accounts
    starts, lens = starts[big], lens[big]
    nb = starts.size
    if nb == 0:
        return []
    offs = np.concatenate(([0], np.cumsum(lens)[:-1]))
    idx = np.repeat(starts - offs, lens) + np.arange(int(lens.sum()))
    r = rows[idx]
    bid = np.repeat(np.arange(nb), lens)
    t = ts[idx]

    acc = win.account[r]
    o = np.lexsort((acc, bid))
    a_s, b_s = acc[o], bid[o]
    first = np.ones(r.size, dtype=bool)
    first[1:] = (a_s[1:] != a_s[:-1]) | (b_s[1:] != b_s[:-1])
    n_acc = np.bincount(b_s[first], minlength=nb)

    g = np.diff(t)
    inside = bid[1:] == bid[:-1]
    g, gb = g[inside], bid[1:][inside]
    cnt = (lens - 1).astype(np.float64)
    mean = np.bincount(gb, weights=g, minlength=nb) / cnt
    var = np.maximum(np.bincount(gb, weights=g * g, minlength=nb) / cnt - mean**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(mean > 0, np.sqrt(var) / mean, np.inf)
    overlap = np.bincount(gb, weights=(g < s.min_tap_gap_s), minlength=nb) / cnt
    med_gap = grouped_median(gb, g, nb)

    la, lo = win.lat[r], win.lon[r]
    ok = np.isfinite(la) & np.isfinite(lo)
    bo = bid[ok]
    clat = grouped_median(bo, la[ok], nb)
    clon = grouped_median(bo, lo[ok], nb)
    d = distance_m(la[ok], lo[ok], clat[bo], clon[bo])
    r80 = _grouped_quantile(bo, d, nb, _SPREAD_QUANTILE)
    am = win.accuracy_m[r].astype(np.float64)
    am = np.where(np.isfinite(am), am, s.assumed_accuracy_m if s.assumed_accuracy_m else np.nan)
    aok = np.isfinite(am)
    acc_med = np.nan_to_num(grouped_median(bid[aok], am[aok], nb), nan=0.0)
    # True spread net of GPS noise: E[d^2 / 2 - sigma_i^2] = tau^2 for every fix, so tau^2
    # is their inverse-variance weighted mean (noisy fixes count less). Distances are capped
    # at the burst's 80th percentile so one wild fix cannot blow it up. A fix without
    # accuracy gets `assumed_accuracy_m` (with 0: no noise, which only makes the spread
    # look larger).
    sig2 = (np.nan_to_num(am[ok], nan=0.0) * _SIGMA_PER_ACCURACY) ** 2
    dc = np.minimum(d, r80[bo])
    wgt = 1.0 / (_TAU_PRIOR_M**2 + sig2) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = np.bincount(bo, weights=wgt * (dc * dc / 2.0 - sig2), minlength=nb) / np.bincount(
            bo, weights=wgt, minlength=nb
        )
    spread = _R80_PER_TAU * np.sqrt(np.maximum(tau2, 0.0))  # NaN stays NaN: unmeasured

    # Other check-ins at the same place around the burst (those that passed the density
    # prefilter; a lone check-in minutes away is dropped there and not counted).
    place_no = np.cumsum(np.concatenate(([True], key[1:] != key[:-1])))
    t_min = float(ts.min())
    comp = place_no * (float(ts.max()) - t_min + 4 * s.context_s + 1.0) + (ts - t_min)
    first_c, last_c = comp[starts], comp[starts + lens - 1]
    around = np.searchsorted(comp, last_c + s.context_s, side="right") - np.searchsorted(
        comp, first_c - s.context_s, side="left"
    )
    context = around - lens

    passed = (
        (n_acc >= s.min_accounts)
        & (overlap <= s.max_overlap_share)
        & (med_gap >= s.min_tap_gap_s)
        & (med_gap <= s.max_tap_gap_s)
        & (cv <= s.max_gap_cv)
        & ~(spread > s.max_spread_m)
        & (context <= s.max_context_share * lens)
    )
    out = []
    for b in np.flatnonzero(passed).tolist():
        br = r[offs[b] : offs[b] + lens[b]]
        k = int(key[starts[b]])
        out.append(
            _Burst(
                rows=br,
                place_key=k if is_point else -1,
                point=point_names.get(k) if is_point else None,
                lat=float(clat[b]),
                lon=float(clon[b]),
                n_accounts=int(n_acc[b]),
                median_gap=float(med_gap[b]),
                gap_cv=float(cv[b]),
                overlap_share=float(overlap[b]),
                spread_m=float(spread[b]),
                radius_m=float(r80[b]),
                accuracy_m=float(acc_med[b]),
                context=int(context[b]),
                accounts=frozenset(win.account[br].tolist()),
            )
        )
    return out


def _dedupe(bursts: list[_Burst]) -> list[_Burst]:
    """The three grids see one ring up to three times: keep the largest of overlapping
    bursts (a ring split by a cell edge in one grid is whole in another)."""
    bursts.sort(key=lambda b: (-b.rows.size, int(b.rows[0])))
    taken: set[int] = set()
    out = []
    for b in bursts:
        rs = b.rows.tolist()
        if taken.isdisjoint(rs):
            taken.update(rs)
            out.append(b)
    out.sort(key=lambda b: int(b.rows[0]))
    return out


# --- stage 4: linking, corroboration, findings ----------------------------------------


def _same_place(a: _Burst, b: _Burst, s: Settings) -> bool:
    if a.place_key >= 0 or b.place_key >= 0:
        return a.place_key == b.place_key
    if not (math.isfinite(a.lat) and math.isfinite(b.lat)):
        return False
    return float(distance_m(np.array(a.lat), np.array(a.lon), b.lat, b.lon)) <= s.link_distance_m


def _link(bursts: list[_Burst], s: Settings) -> list[list[int]]:
    """Groups of bursts at one place with similar account sets (union-find over the pairs
    that share at least one account)."""
    parent = list(range(len(bursts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_account: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(bursts):
        for a in b.accounts:
            by_account[a].append(i)
    seen: set[tuple[int, int]] = set()
    for members in by_account.values():
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if (i, j) in seen:
                    continue
                seen.add((i, j))
                a, b = bursts[i], bursts[j]
                jac = len(a.accounts & b.accounts) / len(a.accounts | b.accounts)
                if jac >= s.link_jaccard and _same_place(a, b, s):
                    parent[root(j)] = root(i)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(bursts)):
        groups[root(i)].append(i)
    return sorted(groups.values())


class _AccountActivity:
    """All events of the accounts seen in bursts, by account (a small subset)."""

    def __init__(self, win: EventWindow, accounts: list[int]) -> None:
        mask = np.isin(win.account, np.asarray(accounts, dtype=win.account.dtype))
        rows = np.flatnonzero(mask)
        self.win = win
        order = np.argsort(win.account[rows], kind="stable")
        rows = rows[order]
        acc = win.account[rows]
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(acc)) + 1, [rows.size]))
        self.rows: dict[int, np.ndarray] = {
            int(acc[lo]): rows[lo:hi]
            for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
            if hi > lo
        }

    def of(self, account: int) -> np.ndarray:
        return self.rows.get(account, np.zeros(0, dtype=np.int64))


def _photo_dup_share(codes: np.ndarray) -> float:
    known = codes[codes >= 0]
    if known.size == 0:
        return 0.0
    _, counts = np.unique(known, return_counts=True)
    return float(counts[counts > 1].sum() / known.size)


class _BaseRates:
    """How many of the window's check-ins came over each network and device model."""

    def __init__(self, win: EventWindow) -> None:
        ck = win.type == np.uint8(EventType.checkin)
        self.network = self._counts(win.network[ck])
        self.device_model = self._counts(win.device_model[ck])

    @staticmethod
    def _counts(codes: np.ndarray) -> np.ndarray:
        known = codes[codes >= 0]
        return np.bincount(known) if known.size else np.zeros(0, dtype=np.int64)


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    p = min(max(p, 0.0), 1.0)
    return float(sum(math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in range(k, n + 1)))


def _shared(codes: np.ndarray, counts: np.ndarray, ring_codes: np.ndarray) -> tuple[float, float]:
    """Share of a burst's known codes taken by its most common one, and the chance that at
    least that many would carry it at random, given its share of the window's check-ins
    outside the ring (the ring's own check-ins would make any shared network look common)."""
    known = codes[codes >= 0]
    if known.size == 0:
        return 0.0, 1.0
    vals, n_in = np.unique(known, return_counts=True)
    top = int(np.argmax(n_in))
    v = int(vals[top])
    ring_known = ring_codes[ring_codes >= 0]
    outside = int(counts.sum()) - ring_known.size
    here = (int(counts[v]) if v < counts.size else 0) - int(np.sum(ring_known == v))
    base = here / outside if outside > 0 else 0.0
    return float(n_in[top] / known.size), _binomial_tail(int(n_in[top]), known.size, base)


def _finding(
    inp: DetectorInput,
    ring: list[_Burst],
    ctx: _AccountActivity,
    base: _BaseRates,
    s: Settings,
) -> Finding | None:
    win = inp.events
    rows = np.concatenate([b.rows for b in ring])
    rows = rows[np.argsort(win.ts[rows], kind="stable")]
    n_events = int(rows.size)
    accounts = sorted({a for b in ring for a in b.accounts})
    names = sorted(win.accounts[a] for a in accounts)
    size_acc = max(b.n_accounts for b in ring)
    tz = inp.app.timezone
    starts = np.array([float(win.ts[b.rows[0]]) for b in ring])
    day_nums, _ = local_day_and_second(starts, tz)
    days = sorted({day_to_date(int(d)).isoformat() for d in day_nums.tolist()})
    ring_rows = set(rows.tolist())

    # Corroboration, pooled over the ring's bursts.
    nets = [_shared(win.network[b.rows], base.network, win.network[rows]) for b in ring]
    models = [
        _shared(win.device_model[b.rows], base.device_model, win.device_model[rows]) for b in ring
    ]
    net_share = float(np.mean([v for v, _ in nets]))
    model_share = float(np.mean([v for v, _ in models]))
    # The chance of the most telling burst: linked bursts are the same phones again.
    net_chance = min(c for _, c in nets)
    model_chance = min(c for _, c in models)
    photo_share = float(np.mean([_photo_dup_share(win.photo_hash[b.rows]) for b in ring]))
    per_device = []
    for b in ring:
        dev = win.device[b.rows]
        known = dev >= 0
        if known.any():
            per_device.append(
                len(set(win.account[b.rows][known].tolist())) / np.unique(dev[known]).size
            )
    acc_per_dev = float(max(per_device)) if per_device else 1.0

    elsewhere: set[int] = set()
    never_here = 0
    for a in accounts:
        other = ctx.of(a)
        other = other[[r not in ring_rows for r in other.tolist()]] if other.size else other
        la, lo, t = win.lat[other], win.lon[other], win.ts[other]
        located = np.isfinite(la) & np.isfinite(lo)
        here_any = False
        for b in ring:
            if a not in b.accounts or not math.isfinite(b.lat):
                continue
            d = distance_m(la[located], lo[located], b.lat, b.lon)
            # Time to the account's own check-in(s) in this burst: who was over there at
            # that time could not have walked up to the risk point.
            own = win.ts[b.rows[win.account[b.rows] == a]]
            dt = np.abs(t[located][:, None] - own[None, :]).min(axis=1)
            if np.any((d > s.elsewhere_m) & (d > s.max_travel_speed_mps * np.maximum(dt, 1.0))):
                elsewhere.add(a)
            radius = _place_radius(inp, b, s)
            is_ck = win.type[other][located] == np.uint8(EventType.checkin)
            here_any |= bool(np.any(is_ck & (d <= radius)))
        if ring[0].place_key >= 0:
            pts = win.point[other]
            here_any |= bool(np.any(_point_key_match(win, pts, ring[0].point)))
        never_here += not here_any
    elsewhere_share = len(elsewhere) / len(accounts)
    never_share = never_here / len(accounts)

    span = s.strong_accounts - (s.min_accounts - 1)
    size = s.size_weight * min(1.0, max(0.0, (size_acc - (s.min_accounts - 1)) / span))
    corroborations = [
        (
            "shared_network",
            s.weight_network,
            net_share,
            s.shared_share,
            net_chance <= s.max_chance_p,
            f"{net_share:.0%} of check-ins came over one network (by chance: p={net_chance:.1g})",
            RULE_CHECKIN,
        ),
        (
            "shared_device_model",
            s.weight_device_model,
            model_share,
            s.shared_share,
            model_chance <= s.max_chance_p,
            f"{model_share:.0%} of the phones are one device model "
            f"(by chance: p={model_chance:.1g})",
            RULE_CHECKIN,
        ),
        (
            "shared_device",
            s.weight_device,
            acc_per_dev,
            s.accounts_per_device,
            True,
            f"{acc_per_dev:.1f} accounts per device",
            RULE_CHECKIN,
        ),
        (
            "repeated_photo",
            s.weight_photo,
            photo_share,
            s.photo_dup_share,
            True,
            f"{photo_share:.0%} of the photos repeat another photo of the burst",
            RULE_UPLOADS,
        ),
        (
            "accounts_elsewhere",
            s.weight_elsewhere,
            elsewhere_share,
            s.elsewhere_share,
            True,
            f"{len(elsewhere)} of {len(accounts)} accounts were active over "
            f"{s.elsewhere_m:.0f} m away too soon to reach the place at "
            f"{s.max_travel_speed_mps:g} m/s",
            RULE_CHECKIN,
        ),
        (
            "never_otherwise_here",
            s.weight_never_here,
            never_share,
            s.never_here_share,
            True,
            f"{never_here} of {len(accounts)} accounts never otherwise check in here",
            RULE_CHECKIN,
        ),
        (
            "repeated_days",
            s.weight_repeat,
            float(len(days)),
            2.0,
            True,
            f"the same accounts did this on {len(days)} days",
            RULE_CHECKIN,
        ),
    ]
    doubt = 1.0 - size
    active = []
    for code, w, value, thr, unlikely, text, rule in corroborations:
        if value >= thr and unlikely and w > 0:
            doubt *= 1.0 - w
            active.append(
                Reason(code=code, text=text, value=round(value, 3), threshold=thr, rule=rule)
            )
    score = round(1.0 - doubt, 3)
    if score < s.min_score:
        return None

    main = max(ring, key=lambda b: b.rows.size)
    gaps = np.concatenate([np.diff(win.ts[b.rows]) for b in ring])
    spread_txt = f"{main.spread_m:.0f} m" if math.isfinite(main.spread_m) else "unmeasured"
    physical = [
        Reason(
            code="many_accounts",
            text=f"{size_acc} distinct accounts checked in within one burst",
            value=float(size_acc),
            threshold=float(s.min_accounts),
            rule=RULE_CHECKIN,
        ),
        Reason(
            code="serial_arrivals",
            text=f"arrivals {main.median_gap:.1f} s apart (median), coefficient of "
            f"variation {main.gap_cv:.2f}: one person's tapping rhythm",
            value=round(main.median_gap, 2),
            threshold=s.max_tap_gap_s,
            rule=RULE_CHECKIN,
        ),
        Reason(
            code="no_overlap",
            text=f"{main.overlap_share:.0%} of arrivals within {s.min_tap_gap_s:g} s of "
            "the previous one (one person taps one phone at a time)",
            value=round(main.overlap_share, 3),
            threshold=s.max_overlap_share,
            rule=RULE_CHECKIN,
        ),
        Reason(
            code="tight_spread",
            text=f"80 % of phones within {spread_txt} net of GPS noise "
            f"({main.accuracy_m:.0f} m accuracy)",
            value=round(main.spread_m, 1) if math.isfinite(main.spread_m) else -1.0,
            threshold=s.max_spread_m,
            rule=RULE_UPLOADS,
        ),
        Reason(
            code="stands_alone",
            text=f"{main.context} other check-ins at the place within "
            f"{s.context_s / 60:.0f} min of the burst (not part of a crowd)",
            value=float(main.context),
            threshold=s.max_context_share * main.rows.size,
        ),
    ]
    where = f"point {main.point}" if main.point else f"{main.lat:.5f},{main.lon:.5f}"
    if main.point:
        id_place = f"point:{main.point}"
    else:
        id_place = f"cell:{round(main.lat, 2):.2f},{round(main.lon, 2):.2f}"

    timeline = []
    coords: list[list[float] | None] = []
    for i, b in enumerate(ring):
        la, lo = win.lat[b.rows], win.lon[b.rows]
        if math.isfinite(b.lat):
            dx, dy = offsets_m(la, lo, b.lat, b.lon)
        else:
            dx = dy = np.full(b.rows.size, np.nan)
        for j, r in enumerate(b.rows.tolist()):
            timeline.append(
                {
                    "burst": i,
                    "account": win.accounts[int(win.account[r])],
                    "ts": float(win.ts[r]),
                    "dx_m": _num(dx[j]),
                    "dy_m": _num(dy[j]),
                }
            )
    for r in rows[:EVIDENCE_LIMIT].tolist():
        coords.append([float(win.lat[r]), float(win.lon[r])] if np.isfinite(win.lat[r]) else None)
    devices = sorted({win.strings[c] for c in win.device[rows].tolist() if c >= 0})
    evidence = {
        **bounded_event_ids(win, rows),
        "accounts": names,
        "devices": devices,
        "point": main.point,
        "centre": {"lat": _deg(main.lat), "lon": _deg(main.lon)},
        "coordinates": coords,
        "timeline": timeline[:EVIDENCE_LIMIT],
        "days": days,
        "bursts": [
            {
                "start": float(win.ts[b.rows[0]]),
                "end": float(win.ts[b.rows[-1]]),
                "accounts": b.n_accounts,
                "events": int(b.rows.size),
                "median_gap_s": round(b.median_gap, 2),
                "gap_cv": round(b.gap_cv, 3),
                "overlap_share": round(b.overlap_share, 3),
                "spread_m": _num(b.spread_m),
                "radius_m": _num(b.radius_m),
                "accuracy_m": round(b.accuracy_m, 1),
                "others_around": b.context,
            }
            for b in ring
        ],
        "gaps": {
            "median_s": round(float(np.median(gaps)), 2),
            "cv": round(float(gaps.std() / gaps.mean()), 3) if gaps.mean() > 0 else None,
            "min_s": round(float(gaps.min()), 2),
            "max_s": round(float(gaps.max()), 2),
            "overlap_share": round(float(np.mean(gaps < s.min_tap_gap_s)), 3),
        },
        "shared": {
            "network_share": round(net_share, 3),
            "device_model_share": round(model_share, 3),
            "photo_dup_share": round(photo_share, 3),
            "accounts_per_device": round(acc_per_dev, 2),
        },
        "accounts_elsewhere": sorted(win.accounts[a] for a in elsewhere),
        "accounts_never_here": never_here,
    }
    days_txt = f" on {len(days)} days ({', '.join(days)})" if len(days) > 1 else f" on {days[0]}"
    # a spread of under a metre net of GPS noise: the fixes are as close as GPS can tell
    where_phones = (
        "phones at one spot (within GPS accuracy)"
        if math.isfinite(main.spread_m) and main.spread_m < 1.0
        else f"phones within {spread_txt}"
    )
    summary = (
        f"{size_acc} accounts checked in at {where} {main.median_gap:.1f} s apart with "
        f"{where_phones}{days_txt}: the signature of one person checking in many phones."
    )
    located = int(np.isfinite(win.lat[rows]).sum())
    return Finding(
        id=finding_id(KIND, win.app, id_place, *names),
        kind=KIND,
        app=win.app,
        severity="critical" if score >= s.critical_score else "warning",
        score=score,
        window_start=float(win.ts[rows[0]]),
        window_end=float(win.ts[rows[-1]]),
        summary=summary,
        reasons=physical + active,
        evidence=evidence,
        confidence=data_confidence((located, n_events), (size_acc, s.strong_accounts)),
    )


def _place_radius(inp: DetectorInput, b: _Burst, s: Settings) -> float:
    if b.place_key >= 0 and b.place_key < len(inp.app.points):
        return inp.app.points[b.place_key].radius_m
    return s.link_distance_m


def _point_key_match(win: EventWindow, codes: np.ndarray, point: str | None) -> np.ndarray:
    if point is None:
        return np.zeros(codes.shape, dtype=bool)
    names = np.array([win.strings[c] == point if c >= 0 else False for c in codes.tolist()])
    return names.astype(bool)


def _deg(v: float) -> float | None:
    """JSON-safe coordinate (None for NaN), to 1e-6 degrees (about 10 cm)."""
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


def _num(v: float) -> float | None:
    """JSON-safe float (None for NaN), rounded to centimetres."""
    v = float(v)
    return round(v, 2) if math.isfinite(v) else None
