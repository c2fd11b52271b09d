"""Step 3c of bulk check-in: a ring's set again on another day, a little more spread.

The spot gate (``max_spread_m``) is what tells a bag from people about a room, and indoor
fixes of 15-30 m (an office, a storeroom, a cart wheeled down a corridor) can push one
day of a bag just past it while its other days pass. That day's check-ins are still the
same phones at the same place: once a ring is reported, a burst of *its* accounts (the
same set again, ``link_jaccard``) at its place on another day within ``link_days`` joins
its finding if it passes the gates with the spot widened to ``again_spread_m``. It never
enters the score (a day too spread to pass on its own is no evidence, and a meeting
tight on one day by chance would otherwise be "the same set again"), and a set never
tight on any day gains nothing: the looser gate only adds days to rings already found.
The looser gate is run only where a reported ring is (`near_rings`): its declared point,
or the grid cells within reach of its bursts.
"""

from __future__ import annotations

import math

import numpy as np

from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.linking import Ring, same_place
from tapwatch.detectors.bulk_checkin.places import Placing
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.geo import cell_key, cell_scale
from tapwatch.window import DAY, EventWindow

#: A grid cell and its eight neighbours, as (x, y) steps.
_SHIFTS = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=np.int64)


def near_rings(
    win: EventWindow, places: list[Placing], rings: list[Ring], s: Settings
) -> list[Placing]:
    """The placings cut to the places where a burst may be one of `rings` again: at a
    declared point, the rings' points; on a grid, every cell with a check-in within
    link_distance_m and three cells of a ring's burst (a burst's centre lies in its
    cell, so any burst at the ring's place is in one of them)."""
    at_point = {b.place_key for r in rings for b in r.bursts if b.place_key >= 0}
    centres = [(b.lat, b.lon) for r in rings for b in r.bursts if b.place_key < 0]
    centres = [c for c in centres if math.isfinite(c[0])]
    reach = s.link_distance_m + 3 * s.cell_m
    out = []
    for p in places:
        if p.is_point:
            keep = np.isin(p.key, np.fromiter(at_point, dtype=np.int64, count=len(at_point)))
        elif centres:
            keep = np.isin(p.key, np.unique(p.key[_within_bins(win, p.rows, centres, reach)]))
        else:
            continue
        if keep.any():
            out.append(Placing(p.rows[keep], p.key[keep], p.is_point))
    return out


def _within_bins(
    win: EventWindow, rows: np.ndarray, centres: list[tuple[float, float]], reach_m: float
) -> np.ndarray:
    """Per row, whether it lies in the same grid cell as one of the centres or a
    neighbouring one (`geo.cell_scale` cells at least reach_m across, sized a degree
    further from the equator than any centre): every row within reach_m of a centre, and
    a few more."""
    lat_c, lon_c = np.array(centres).T
    dlat, dlon = cell_scale(np.abs(lat_c) + 1.0, reach_m)
    cx, cy = np.floor(lon_c / dlon).astype(np.int64), np.floor(lat_c / dlat).astype(np.int64)
    hit = cell_key((cx[:, None] + _SHIFTS[:, 0]).ravel(), (cy[:, None] + _SHIFTS[:, 1]).ravel())
    lat, lon = win.lat[rows], win.lon[rows]
    ok = np.isfinite(lat) & np.isfinite(lon)
    keys = cell_key(
        np.floor(np.where(ok, lon, 0.0) / dlon).astype(np.int64),
        np.floor(np.where(ok, lat, 0.0) / dlat).astype(np.int64),
    )
    return ok & np.isin(keys, hit)


def days_again(rings: list[Ring], loose: list[Burst], s: Settings) -> list[list[Burst]]:
    """Per ring, the loose bursts (rows disjoint from every ring's) that are its set again
    at its place on a day it has no burst, within link_days of one of its bursts."""
    taken = {r for ring in rings for r in ring.rows.tolist()}
    spare = [b for b in loose if taken.isdisjoint(b.rows.tolist())]
    out: list[list[Burst]] = []
    used: set[int] = set()
    for ring in rings:
        mine = set(ring.accounts)
        days = {int(b.start // DAY) for b in ring.bursts}
        add = []
        for k, b in enumerate(spare):
            if k in used or int(b.start // DAY) in days:
                continue
            near = any(
                abs(b.start - x.start) <= s.link_days * DAY and same_place(b, x, s)
                for x in ring.bursts
            )
            if near and len(b.accounts & mine) / len(b.accounts | mine) >= s.link_jaccard:
                add.append(b)
                used.add(k)
                days.add(int(b.start // DAY))
        out.append(add)
    return out
