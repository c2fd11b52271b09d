"""GCJ-02 <-> WGS-84 against published reference pairs.

References (WGS-84 lat, lon -> GCJ-02 lat, lon):
- googollee/eviltransform, python/test.py `TESTS` (Shanghai, Shenzhen, Beijing);
- wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915) =
  [116.41024449916938, 39.91640428150164] (lon, lat order there).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapwatch.datum import Datum, gcj02_to_wgs84, to_wgs84, wgs84_to_gcj02
from tapwatch.detectors.geo import distance_m

EVILTRANSFORM = [
    # wgs lat, wgs lon, gcj lat, gcj lon
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
COORDTRANSFORM = [(39.915, 116.404, 39.91640428150164, 116.41024449916938)]
REFERENCE = EVILTRANSFORM + COORDTRANSFORM


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), REFERENCE)
def test_forward_matches_published_pairs(wlat: float, wlon: float, glat: float, glon: float):
    lat, lon = wgs84_to_gcj02(wlat, wlon)
    assert lat == pytest.approx(glat, abs=1e-9)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert isinstance(lat, float)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), REFERENCE)
def test_inverse_recovers_the_wgs84_position_to_a_centimetre(
    wlat: float, wlon: float, glat: float, glon: float
):
    lat, lon = gcj02_to_wgs84(glat, glon)
    assert float(distance_m(np.array(lat), np.array(lon), wlat, wlon)) < 0.01
    # The two datums really are hundreds of metres apart here: the test can fail.
    assert float(distance_m(np.array(glat), np.array(glon), wlat, wlon)) > 250


def test_vectorised_over_arrays_with_nan():
    g = np.array([[r[2], r[3]] for r in REFERENCE] + [[math.nan, math.nan]])
    lat, lon = gcj02_to_wgs84(g[:, 0], g[:, 1])
    assert lat.shape == (len(REFERENCE) + 1,)
    want = np.array([[r[0], r[1]] for r in REFERENCE])
    np.testing.assert_allclose(lat[:-1], want[:, 0], atol=1e-7)
    np.testing.assert_allclose(lon[:-1], want[:, 1], atol=1e-7)
    assert math.isnan(lat[-1]) and math.isnan(lon[-1])


def test_identity_outside_china():
    assert wgs84_to_gcj02(51.5007, -0.1246) == (51.5007, -0.1246)  # London
    assert gcj02_to_wgs84(-33.8568, 151.2153) == (-33.8568, 151.2153)  # Sydney


def test_to_wgs84_by_declared_datum():
    glat, glon = REFERENCE[0][2], REFERENCE[0][3]
    assert to_wgs84(Datum.wgs84, glat, glon) == (glat, glon)
    lat, lon = to_wgs84("gcj02", glat, glon)
    assert lat == pytest.approx(REFERENCE[0][0], abs=1e-7)
    assert lon == pytest.approx(REFERENCE[0][1], abs=1e-7)
