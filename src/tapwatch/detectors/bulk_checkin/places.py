"""Step 1 of bulk check-in: where each check-in happened, and which check-ins are worth
chaining at all.

A check-in is placed at a declared point (its ``point`` code, or the nearest declared point
whose radius holds the fix) or else in grid cells of ``cell_m``. Three grids shifted by a
third of a cell are used, so any group of fixes less than ``cell_m / 3`` across lies
wholly inside one cell of at least one grid.

A hash count over (place, time bucket) then drops the check-ins that cannot be part of
``min_accounts`` arrivals chained by the longest chaining gap; usually that leaves a tiny
share of the window for the chaining step.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tapwatch.bytecolumns import strings_at
from tapwatch.detectors.base import CheckinPoint
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.geo import assign_points, cell_scale, distance_m
from tapwatch.events import EventType
from tapwatch.window import EventWindow

#: Grid shifts (in cells): three grids shifted by a third of a cell.
GRID_SHIFTS = (0.0, 1.0 / 3.0, 2.0 / 3.0)
#: Multiplicative hash constants (odd 64-bit, from splitmix64 / xxhash).
_H1 = np.uint64(0x9E3779B97F4A7C15)
_H2 = np.uint64(0xC2B2AE3D27D4EB4F)
#: Density prefilter: rows per counting chunk (whole buckets; its table then stays in
#: cache), and hash-table slots per row (about 2 % of isolated rows then share a slot with
#: two others and pass needlessly).
_CHUNK_ROWS = 8192
_TABLE_PER_ROW = 4


@dataclass(slots=True)
class Placing:
    """Check-ins that may belong to a burst at one placing (the declared points, or one of
    the shifted grids): window rows and their place keys, sorted by place then time."""

    rows: np.ndarray
    key: np.ndarray
    is_point: bool

    @classmethod
    def of(cls, rows: np.ndarray, key: np.ndarray, is_point: bool) -> Placing:
        """From rows in time order: a stable sort by place keeps time order within one."""
        order = np.argsort(key, kind="stable")
        return cls(rows[order], key[order], is_point)


def placings(
    win: EventWindow, points: tuple[CheckinPoint, ...], s: Settings
) -> tuple[list[Placing], dict[int, str]]:
    """Every placing's dense check-ins, and the point key -> point name map."""
    is_checkin = win.type == np.uint8(EventType.checkin)
    ck = None if is_checkin.all() else np.flatnonzero(is_checkin)
    if ck is not None and ck.size == 0:
        return [], {}
    ts, lat, lon, pcode = (
        (win.ts, win.lat, win.lon, win.point)
        if ck is None
        else (win.ts[ck], win.lat[ck], win.lon[ck], win.point[ck])
    )
    has_xy = np.isfinite(lat) & np.isfinite(lon)
    place, names = _point_keys(win, points, lat, lon, pcode, has_xy)

    def window_rows(sub: np.ndarray | None) -> np.ndarray:
        if sub is None:
            return np.arange(ts.shape[0]) if ck is None else ck
        return sub if ck is None else ck[sub]

    out: list[Placing] = []
    at_point = place >= 0
    on_grid = has_xy
    if at_point.any():
        sub = np.flatnonzero(at_point)
        keep = _TimeBuckets(ts[sub], s).dense(place[sub], s)
        out.append(Placing.of(window_rows(sub[keep]), place[sub][keep], True))
        on_grid = ~at_point & has_xy
    if on_grid.all():  # the common case: no copies of the columns
        sub, g_ts, g_lat, g_lon = None, ts, lat, lon
    else:
        sub = np.flatnonzero(on_grid)
        g_ts, g_lat, g_lon = ts[sub], lat[sub], lon[sub]
    if g_ts.size >= s.min_accounts:
        rows = window_rows(sub)
        buckets = _TimeBuckets(g_ts, s)
        for key in _grid_keys(g_lat, g_lon, s.cell_m):
            keep = buckets.dense(key, s)
            out.append(Placing.of(rows[keep], key[keep], False))
    return out, names


def _grid_keys(lat: np.ndarray, lon: np.ndarray, cell_m: float) -> Iterator[np.ndarray]:
    """Cell keys in each shifted grid, from a fixed origin (so a cell does not depend on
    what else is in the window); coordinates are non-negative so truncation floors."""
    dlat, dlon = cell_scale(lat, cell_m)
    u = (lon + 180.0) / dlon
    v = (lat + 90.0) / dlat
    for shift in GRID_SHIFTS:
        yield ((u + shift).astype(np.int64) << 32) | (v + shift).astype(np.int64)


def _point_keys(
    win: EventWindow,
    points: tuple[CheckinPoint, ...],
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
        for c, name in zip(used.tolist(), strings_at(win.strings, used), strict=True):
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
    chained by the longest chaining gap spans at most (min_accounts - 1) gaps, under half a
    bucket, so it lies inside one bucket of one bucketing. Hash collisions only let extra
    rows through. Counting runs over time chunks of whole buckets, about _CHUNK_ROWS rows
    each, with a small table each (_TABLE_PER_ROW slots per row): it stays in cache, where
    one table for the whole window would miss it on nearly every row. The buckets are
    computed once and reused by every grid."""

    def __init__(self, ts: np.ndarray, s: Settings) -> None:
        self.n = ts.shape[0]
        span = (2 * (s.min_accounts - 1) + 1) * max(s.chain_gaps_s)
        self.bucketings: list[tuple[np.ndarray, list[int]]] = []
        if self.n == 0:
            return
        t = ts - ts[0]
        per_bucket = self.n * span / max(float(t[-1]), span)
        chunk_buckets = max(1, int(_CHUNK_ROWS / per_bucket))
        for offset in (0.0, span / 2.0):
            tb = np.floor((t + offset) / span).astype(np.int64)
            chunk = tb // chunk_buckets
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


class Surroundings:
    """The window's located check-ins indexed by grid cell (cells at least ``context_m``
    wide) and time, to find those around a place and moment whatever cell or declared
    point they fall in (a crowd cut by a cell edge is still around its other half; the
    people who come to a ring's place on their own). Built on first use: one stable sort
    of the check-ins by cell (they are in time order already)."""

    def __init__(self, win: EventWindow, s: Settings) -> None:
        self.win, self.s = win, s
        self.built = False

    def _build(self) -> None:
        win, s = self.win, self.s
        located = np.isfinite(win.lat) & np.isfinite(win.lon)
        rows = np.flatnonzero((win.type == np.uint8(EventType.checkin)) & located)
        self.dlat, self.dlon = cell_scale(win.lat[rows], s.context_m)
        cx = np.floor(win.lon[rows] / self.dlon).astype(np.int64)
        cy = np.floor(win.lat[rows] / self.dlat).astype(np.int64)
        self.x0 = int(cx.min()) if rows.size else 0
        self.y0 = int(cy.min()) if rows.size else 0
        cx -= self.x0
        cy -= self.y0
        self.y_bits = int(cy.max()).bit_length() if rows.size else 0
        row_bits = int(rows.size).bit_length()
        x_bits = int(cx.max()).bit_length() if rows.size else 0
        key = (cx << self.y_bits) | cy  # >= 0, ordered by cell
        if x_bits + self.y_bits + row_bits <= 63:
            # Cell and position (time order) in one int64: a plain sort, no argsort.
            packed = (key << row_bits) | np.arange(rows.size, dtype=np.int64)
            packed.sort()
            rows, key = rows[packed & ((1 << row_bits) - 1)], packed >> row_bits
        else:  # a window spanning a continent at 50 m cells
            order = np.argsort(key, kind="stable")  # rows are in time order: stable keeps it
            rows, key = rows[order], key[order]
        first = np.ones(key.size, dtype=bool)
        first[1:] = key[1:] != key[:-1]
        self.rows, self.cells = rows, key[first]
        ts = win.ts[rows]
        self.t0 = float(win.ts[0]) if len(win) else 0.0
        self.stride = (float(win.ts[-1]) - self.t0 if len(win) else 0.0) + 1.0
        # One sorted float per check-in: its cell's rank, then its time.
        self.order_key = (np.cumsum(first) - 1) * self.stride + (ts - self.t0)
        self.built = True

    def near(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        t_from: np.ndarray,
        t_to: np.ndarray,
        radius_m: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(query, window row) for every check-in within radius_m of query point j and
        between t_from[j] and t_to[j] (queries without a fix find nothing)."""
        if not self.built:
            self._build()
        reach = math.ceil(radius_m / self.s.context_m)
        span = np.arange(-reach, reach + 1)
        per = span.size**2
        q = np.repeat(np.flatnonzero(np.isfinite(lat) & np.isfinite(lon)), per)
        n_q = q.size // per
        cx = np.floor(lon[q] / self.dlon).astype(np.int64) - self.x0
        cy = np.floor(lat[q] / self.dlat).astype(np.int64) - self.y0
        cx += np.tile(np.repeat(span, span.size), n_q)
        cy += np.tile(span, span.size * n_q)
        inside = (cx >= 0) & (cy >= 0) & (cy < (1 << self.y_bits))
        q, cx, cy = q[inside], cx[inside], cy[inside]
        key = (cx << self.y_bits) | cy
        rank = np.searchsorted(self.cells, key)
        known = rank < self.cells.size
        known[known] = self.cells[rank[known]] == key[known]
        q, rank = q[known], rank[known]
        t_lo = np.maximum(t_from[q] - self.t0, 0.0)
        t_hi = np.minimum(t_to[q] - self.t0, self.stride - 1.0)
        lo = np.searchsorted(self.order_key, rank * self.stride + t_lo, side="left")
        hi = np.searchsorted(self.order_key, rank * self.stride + t_hi, side="right")
        lens = hi - lo
        pos = np.repeat(lo - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        q = np.repeat(q, lens)
        rows = self.rows[pos]
        d = distance_m(self.win.lat[rows], self.win.lon[rows], lat[q], lon[q])
        keep = d <= radius_m
        return q[keep], rows[keep]
