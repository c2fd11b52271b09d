"""Spatial helpers for the location detectors: metre offsets, grid cells and declared
check-in points, all vectorised over numpy columns (no per-event Python objects).

Cells are built in degrees with a longitude width chosen at the window's most poleward
latitude, so a cell is at least the requested size everywhere in the window (a bigger cell
only costs a little more chaining work; a smaller one would break the size guarantees).
"""

from __future__ import annotations

import math

import numpy as np

#: Metres per degree of latitude and per degree of longitude at the equator (WGS84, mean).
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0
#: Cells are never built beyond this latitude (longitude widths would blow up).
_MAX_ABS_LAT = 85.0


def offsets_m(
    lat: np.ndarray, lon: np.ndarray, lat0: np.ndarray | float, lon0: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """East and north offsets in metres of (lat, lon) from (lat0, lon0) (equirectangular,
    accurate to well under 1 % over a few kilometres)."""
    coslat = np.cos(np.radians(lat0))
    return (lon - lon0) * (M_PER_DEG_LON * coslat), (lat - lat0) * M_PER_DEG_LAT


def distance_m(
    lat: np.ndarray, lon: np.ndarray, lat0: np.ndarray | float, lon0: np.ndarray | float
) -> np.ndarray:
    """Distance in metres of (lat, lon) from (lat0, lon0) (equirectangular)."""
    dx, dy = offsets_m(lat, lon, lat0, lon0)
    return np.hypot(dx, dy)


def cell_scale(lat: np.ndarray, cell_m: float) -> tuple[float, float]:
    """Degrees per cell in latitude and longitude for cells at least `cell_m` wide over
    every latitude in `lat` (NaNs ignored)."""
    top = float(np.nanmax(np.abs(lat))) if lat.size and not np.isnan(lat).all() else 0.0
    # Rounded up to a 5-degree band, so the grid stays put while the fixes move.
    top = min(math.ceil((top + 0.01) / 5.0) * 5.0, _MAX_ABS_LAT)
    return cell_m / M_PER_DEG_LAT, cell_m / (M_PER_DEG_LON * math.cos(math.radians(top)))


def assign_points(
    lat: np.ndarray,
    lon: np.ndarray,
    p_lat: np.ndarray,
    p_lon: np.ndarray,
    p_radius_m: np.ndarray,
) -> np.ndarray:
    """Index of the nearest declared point whose radius contains each fix, or -1.

    Points are registered in the 3×3 block of grid cells (cell = the largest radius) around
    their own cell, so each fix only checks the few points registered in its cell."""
    n = lat.shape[0]
    out = np.full(n, -1, dtype=np.int32)
    if n == 0 or p_lat.size == 0:
        return out
    radius = float(np.max(p_radius_m))
    dlat, dlon = cell_scale(p_lat, radius)
    pcx = np.floor(p_lon / dlon).astype(np.int64)
    pcy = np.floor(p_lat / dlat).astype(np.int64)
    shifts = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=np.int64)
    keys = cell_key(
        (pcx[:, None] + shifts[None, :, 0]).ravel(), (pcy[:, None] + shifts[None, :, 1]).ravel()
    )
    owner = np.repeat(np.arange(p_lat.size, dtype=np.int64), shifts.shape[0])
    order = np.argsort(keys, kind="stable")
    keys, owner = keys[order], owner[order]

    ok = np.isfinite(lat) & np.isfinite(lon)
    rows = np.flatnonzero(ok)
    ekey = cell_key(
        np.floor(lon[rows] / dlon).astype(np.int64), np.floor(lat[rows] / dlat).astype(np.int64)
    )
    # Most fixes are nowhere near a point: a small occupancy table (cache-resident, unlike
    # a binary search over the keys) rules them out before any search.
    bits = max(10, int(np.ceil(np.log2(keys.size * 8))))
    occupied = np.zeros(1 << bits, dtype=bool)
    occupied[_slot(keys, bits)] = True
    near = occupied[_slot(ekey, bits)]
    rows, ekey = rows[near], ekey[near]
    lo = np.searchsorted(keys, ekey, side="left")
    hi = np.searchsorted(keys, ekey, side="right")
    hit = hi > lo
    rows, lo, hi = rows[hit], lo[hit], hi[hit]
    best = np.full(rows.size, np.inf)
    best_p = np.full(rows.size, -1, dtype=np.int64)
    # Loop over the (small) number of points sharing a cell, vectorised over fixes.
    for j in range(int((hi - lo).max(initial=0))):
        has = lo + j < hi
        p = owner[np.where(has, lo + j, 0)]
        d = distance_m(lat[rows], lon[rows], p_lat[p], p_lon[p])
        better = has & (d <= p_radius_m[p]) & (d < best)
        best = np.where(better, d, best)
        best_p = np.where(better, p, best_p)
    out[rows] = best_p.astype(np.int32)
    return out


def _slot(keys: np.ndarray, bits: int) -> np.ndarray:
    """Hash slot of int64 keys in a table of 2**bits (multiplicative hashing)."""
    return ((keys.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)).astype(
        np.intp
    )


def cell_key(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """One int64 per (cx, cy) cell; unique for |cx|, |cy| < 2**31."""
    return (cx << 32) ^ (cy & 0xFFFFFFFF)
