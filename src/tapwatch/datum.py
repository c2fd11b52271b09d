"""Geodetic datums of positions: WGS-84 (GPS, usage API v1, most registries) and GCJ-02
(the obfuscated datum Chinese map providers and platforms report: WeCom, DingTalk, AMap,
Tencent Maps).

tapwatch stores and compares every position in WGS-84. Sources that report GCJ-02 convert
at ingest (vectorised over a page) and registry points declared in GCJ-02 are converted
when the app's profile is built, so the detectors, the evidence pages and `analyze` see one
datum and never convert. Mixing the two unconverted shifts a position by several hundred
metres in eastern China, enough to put every check-in "away from the point".

GCJ-02 is the published forward transform (Krasovsky 1940 ellipsoid constants and the
polynomial-plus-sine offsets); outside the rectangle it is defined on it is the identity.
The inverse has no closed form: it is solved by fixed-point iteration, which converges to
well under a centimetre in a few steps because the offset varies slowly.
"""

from __future__ import annotations

import enum
from typing import TypeVar, overload

import numpy as np

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m), as the GCJ-02 transform uses
_EE = 0.00669342162296594323  # its first eccentricity squared
#: The rectangle the transform is applied in (outside it GCJ-02 equals WGS-84).
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271
#: Inverse iteration stops when the forward image is this close to the target (degrees,
#: about 1 mm), or after _MAX_ITER steps (3-4 suffice in practice).
_TOL_DEG = 1e-8
_MAX_ITER = 30


class Datum(enum.StrEnum):
    """The datum a source reports positions in, or a registry point is declared in."""

    wgs84 = "wgs84"
    gcj02 = "gcj02"


Num = TypeVar("Num", float, np.ndarray)


def _in_china(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return (lon >= _LON_MIN) & (lon <= _LON_MAX) & (lat >= _LAT_MIN) & (lat <= _LAT_MAX)


def _offset(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84, in degrees, at WGS-84 position (lat, lon)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat = dlat + common
    dlat = dlat + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon = dlon + common
    dlon = dlon + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * pi)
    inside = _in_china(lat, lon)
    return np.where(inside, dlat, 0.0), np.where(inside, dlon, 0.0)


@overload
def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def wgs84_to_gcj02(lat, lon):  # type: ignore[no-untyped-def]
    """GCJ-02 position of a WGS-84 position (floats or arrays of the same shape)."""
    la, lo = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    dlat, dlon = _offset(la, lo)
    return _like(lat, la + dlat), _like(lon, lo + dlon)


@overload
def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def gcj02_to_wgs84(lat, lon):  # type: ignore[no-untyped-def]
    """WGS-84 position of a GCJ-02 position: the point whose forward transform gives it
    (to about a millimetre). NaN positions stay NaN."""
    g_lat, g_lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    w_lat, w_lon = g_lat.copy(), g_lon.copy()
    for _ in range(_MAX_ITER):
        dlat, dlon = _offset(w_lat, w_lon)
        err_lat = w_lat + dlat - g_lat
        err_lon = w_lon + dlon - g_lon
        w_lat = w_lat - err_lat
        w_lon = w_lon - err_lon
        worst = np.nanmax(np.abs(np.concatenate((np.ravel(err_lat), np.ravel(err_lon)))),
                          initial=0.0)
        if worst < _TOL_DEG:
            break
    return _like(lat, w_lat), _like(lon, w_lon)


def to_wgs84(datum: Datum | str, lat: Num, lon: Num) -> tuple[Num, Num]:
    """A position given in `datum`, in WGS-84."""
    if Datum(datum) is Datum.gcj02:
        return gcj02_to_wgs84(lat, lon)  # type: ignore[return-value]
    return lat, lon


def _like(template: object, value: np.ndarray) -> float | np.ndarray:
    """A float for scalar input, an array for array input."""
    if isinstance(template, np.ndarray):
        return value
    return float(value)
