"""Bulk check-in, eighteenth round: a bag worked a share a day (`shares`): other sets at
one spot on other days, each checked in by one hand, are one bag; people arriving each at
a moment of their own, or a counter's queue of hundreds, are not. Each scene is small and
described in its test."""

from __future__ import annotations

import numpy as np

from tests.unit.checkin_scenes import BASE, DAY, Scenario, detect, people


def _one_hand(sc: Scenario, day: int, accounts: list[str]) -> list[str]:
    """`accounts` checked in at the spot by one hand on `day`, 8-12 s apart (a steady
    rhythm), the phones within a metre, each on its own mobile data. The ids."""
    times = BASE + day * DAY + np.cumsum(sc.rng.uniform(8, 12, len(accounts)))
    spots = sc.rng.normal(0, 0.5, (len(accounts), 2))
    return [e.id for e in sc.taps(times, accounts, spots)]


def _days(f: object) -> int:
    return len(f.evidence["days"])  # type: ignore[attr-defined]


def test_a_bag_worked_a_third_a_day_is_one_ring_of_the_whole_bag() -> None:
    """Thirty-six spare phones worked a third a day on three days (twelve each day, a
    different twelve), at one table, one hand at a steady pace: no day's set comes
    again, so without shares the days are three rings of twelve; as shares of one bag,
    one ring of thirty-six on three days, every check-in in it."""
    sc = Scenario(seed=180)
    bag = people("bag", 36)
    ids = [i for d in range(3) for i in _one_hand(sc, d, bag[12 * d : 12 * (d + 1)])]
    [f] = detect(sc)
    assert sorted(f.evidence["event_ids"]) == sorted(ids)
    assert len(f.evidence["accounts"]) == 36 and _days(f) == 3
    apart = detect(sc, share_max_phones=1)
    assert apart and all(len(g.evidence["accounts"]) <= 12 for g in apart)


def test_a_fresh_share_of_a_staff_arriving_each_at_their_own_moment_is_not_one_bag() -> None:
    """Ten of a staff of twenty-four at one station on three days, a fresh draw each day,
    arriving at moments of their own over ten minutes (uniform: pairs within seconds
    among them), standing within 3 m: no day is one hand's, so no two days are joined
    as shares, whatever is reported."""
    sc = Scenario(seed=181)
    staff = people("nurse", 24)
    for d in range(3):
        here = [staff[int(i)] for i in sc.rng.choice(24, size=10, replace=False)]
        times = BASE + d * DAY + np.sort(sc.rng.uniform(0, 600, 10))
        sc.taps(times, here, sc.rng.uniform(-3, 3, (10, 2)))
    found = detect(sc, min_score=0.01)
    assert len(found) == 3 and all(_days(f) == 1 for f in found)


def test_a_counters_queue_served_one_at_a_time_is_more_than_one_bag() -> None:
    """Twenty-five different people a day served one at a time at a counter (a steady
    8-12 s each) on three days: one hand's pace, one spot, other sets each day, but
    seventy-five accounts, more than one official carries: not shares of one bag. With
    the bound lifted the three days are one ring."""
    sc = Scenario(seed=182)
    for d in range(3):
        _one_hand(sc, d, people(f"client{d}-", 25))
    found = detect(sc, min_score=0.01)
    assert len(found) == 3 and all(_days(f) == 1 for f in found)
    assert any(_days(f) == 3 for f in detect(sc, min_score=0.01, share_max_phones=100))


def test_shares_of_a_few_phones_are_not_one_bag() -> None:
    """Five phones at a steady pace one day and five others the next at one spot: a
    handful keeps step as friends do (timing counts only beyond group_accounts), so the
    two are not joined as shares; with group_accounts lowered they are."""
    sc = Scenario(seed=186)
    _one_hand(sc, 0, people("a", 5))
    _one_hand(sc, 1, people("b", 5))
    found = detect(sc, min_score=0.01)
    assert len(found) == 2 and all(_days(f) == 1 for f in found)
    assert any(_days(f) == 2 for f in detect(sc, min_score=0.01, group_accounts=3))


def test_small_shares_with_phones_in_common_are_one_bag() -> None:
    """Nineteenth round. Twelve phones worked six a day on three days by one hand at a
    steady pace, each day's six a fresh half with two phones of the day before (0-5,
    4-9, 8-11 and 0-1): each day a handful, but the same bag's phones again, so the days
    are shares of one ring of twelve. Six others a day with none in common (a handful
    keeping step as friends do) stay apart, as before."""
    sc = Scenario(seed=187)
    bag = people("bag", 12)
    for d, share in enumerate((bag[0:6], bag[4:10], bag[8:12] + bag[0:2])):
        _one_hand(sc, d, share)
    [f] = detect(sc, min_score=0.01)
    assert _days(f) == 3 and len(f.evidence["accounts"]) == 12
    sc = Scenario(seed=187)
    for d in range(3):
        _one_hand(sc, d, people(f"x{d}-", 6))
    found = detect(sc, min_score=0.01)
    assert len(found) == 3 and all(_days(f) == 1 for f in found)
