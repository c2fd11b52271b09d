"""Bulk check-in, eighteenth round: a found ring's set again on another day, a little
more spread (`again`): a day of a bag pushed past the spot gate by its layout joins the
ring; a set never tight on any day gains nothing. Each scene is small and described in
its test."""

from __future__ import annotations

import numpy as np

from tapwatch.detectors import bulk_checkin
from tapwatch.detectors.bulk_checkin.again import near_rings
from tapwatch.detectors.bulk_checkin.bursts import dedupe, gated_bursts
from tapwatch.detectors.bulk_checkin.linking import link
from tapwatch.detectors.bulk_checkin.places import Surroundings, placings
from tests.unit.checkin_scenes import BASE, DAY, Scenario, detect, people


def _day(sc: Scenario, day: int, bag: list[str], radius_m: float) -> list[str]:
    """The bag checked in by one hand on `day`, 8-12 s apart, the phones round a circle
    `radius_m` about the spot (carried round a room, in no order; 0.5: one table), each
    on its own mobile data, with good fixes (3 m). The ids."""
    n = len(bag)
    times = BASE + day * DAY + np.cumsum(sc.rng.uniform(8, 12, n))
    r, a = radius_m, sc.rng.permutation(np.linspace(0, 2 * np.pi, n, endpoint=False))
    return [
        sc.checkin(float(t), acc, float(x), float(y), accuracy=3.0).id
        for t, acc, x, y in zip(times, bag, r * np.cos(a), r * np.sin(a), strict=True)
    ]


def test_a_day_of_the_bag_carried_about_a_room_joins_its_ring() -> None:
    """Fourteen spare phones checked in at one table on two days and, on a third, round a
    room 28 m in radius (too spread for the spot gate on its own): the same set again at
    the same place, so the third day (most of it) joins the ring found on the other two.
    With the widened spot off it is left out."""
    sc = Scenario(seed=183)
    bag = people("bag", 14)
    tight = _day(sc, 0, bag, 0.5) + _day(sc, 1, bag, 0.5)
    wide = _day(sc, 2, bag, 28.0)
    [f] = detect(sc)
    assert set(tight) <= set(f.evidence["event_ids"])
    assert len(set(wide) & set(f.evidence["event_ids"])) >= len(wide) // 2
    assert len(f.evidence["days"]) == 3
    [g] = detect(sc, again_spread_m=0.0)
    assert sorted(g.evidence["event_ids"]) == sorted(tight)


def test_a_set_never_tight_gains_nothing_from_the_widened_spot() -> None:
    """The same fourteen round the room on all three days: no day passes the spot gate,
    so there is no ring for them to join and nothing is reported. With the spot gate
    itself as wide as the widened spot they would be."""
    sc = Scenario(seed=184)
    bag = people("bag", 14)
    for d in range(3):
        _day(sc, d, bag, 28.0)
    assert detect(sc, min_score=0.01) == []
    assert detect(sc, min_score=0.01, max_spread_m=24.0, again_spread_m=0.0) != []


def _people(sc: Scenario, day: int, group: list[str], radius_m: float) -> None:
    """`group` arriving each at a moment of their own over 15 minutes on `day`, round a
    circle `radius_m` about the spot (0: within half a metre of it), good fixes (3 m)."""
    n = len(group)
    times = BASE + day * DAY + np.sort(sc.rng.uniform(0, 900, n))
    a = sc.rng.permutation(np.linspace(0, 2 * np.pi, n, endpoint=False))
    xy = radius_m * np.column_stack((np.cos(a), np.sin(a))) + sc.rng.normal(0, 0.5, (n, 2))
    for t, acc, (x, y) in zip(times, group, xy, strict=True):
        sc.checkin(float(t), acc, float(x), float(y), accuracy=3.0)


def test_days_added_with_the_widened_spot_are_no_evidence() -> None:
    """Fourteen people tight about one spot on one day, arriving each at a moment of their
    own, and the same fourteen spread round a room 28 m in radius on the next two: the
    spread days would make "the same set again" if they counted, but a day that passes
    only with the spot widened joins a finding, never its score: nothing reported. The
    same set tight on all three days is reported, by its repetition."""
    group = people("grp", 14)
    sc = Scenario(seed=185)
    for d, radius in enumerate((0.0, 28.0, 28.0)):
        _people(sc, d, group, radius)
    assert detect(sc) == []
    tight = Scenario(seed=185)
    for d in range(3):
        _people(tight, d, group, 0.0)
    [f] = detect(tight)
    assert "repeated_days" in {r.code for r in f.reasons}


def test_the_widened_spot_is_looked_for_only_where_a_ring_is() -> None:
    """Nineteenth round. The looser gate runs only at the reported rings' places
    (`near_rings`): of a bag checked in at one table on three days and the same bag's
    twin 5 km east (another table, the same days), the placings cut to the first ring
    keep its check-ins and none of the twin's, and the first ring's third day, round a
    room, still joins its finding."""
    sc = Scenario(seed=185)
    bag, twin = people("bag", 14), people("twin", 14)
    ring = _day(sc, 0, bag, 0.5) + _day(sc, 1, bag, 0.5) + _day(sc, 2, bag, 28.0)
    for d in range(3):
        times = BASE + d * DAY + 3600 + np.cumsum(sc.rng.uniform(8, 12, 14))
        for t, acc in zip(times, twin, strict=True):
            sc.checkin(float(t), acc, 5000.0 + sc.rng.normal(0, 0.5), sc.rng.normal(0, 0.5))
    inp, s = sc.input(), bulk_checkin.Settings()
    win = inp.events
    places, names = placings(win, (), s)
    around = Surroundings(win, s)
    bursts = dedupe([b for p in places for b in gated_bursts(win, p, names, around, s)], s)
    rings = link(win, bursts, inp.app.timezone, s)
    mine = [r for r in rings if any(a == win.account[0] for a in r.accounts)]
    cut = near_rings(win, places, mine, s)
    kept = {r for p in cut for r in p.rows.tolist()}
    ids = set(win.event_ids(sorted(kept)))
    assert set(ring[:28]) <= ids
    assert not ids - set(ring)  # nothing of the twin, 5 km away
    found = detect(sc)
    assert len(found) == 2
    [f] = [f for f in found if ring[0] in f.evidence["event_ids"]]
    assert len(set(ring[28:]) & set(f.evidence["event_ids"])) >= 7
