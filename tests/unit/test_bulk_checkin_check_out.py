"""Bulk check-in: an attendance app that asks for a check-in on arrival and a check-out
on leaving. Since the fourteenth round, people who stayed on at the place (at it again
hours later the same day) make one hand's timing a server's and a shared network the
place's. A bag of phones checked in by one hand in the morning and out by one hand in the
evening is at the place again hours later too, but nobody stayed with it: the stay is shown
only by the accounts' own doing (activity not in a burst timed by one hand)."""

from __future__ import annotations

import numpy as np

from tests.unit.checkin_scenes import BASE, DAY, Scenario, detect, people, signal

EVENING = 8 * 3600.0  # 17:00 Asia/Shanghai (BASE is 09:00)


def bag_in(sc: Scenario, phones: list[str], d: int, at: float) -> None:
    """One operator checking every phone of the bag in at `at` on day `d`, one at a
    time 5 s apart, in a different order each time, within half a metre, on the office
    hotspot."""
    n = len(phones)
    order = sc.rng.permutation(n)
    times = BASE + d * DAY + at + 5.0 * np.arange(n) + sc.rng.uniform(-0.3, 0.3, n)
    spots = sc.rng.uniform(-0.5, 0.5, (n, 2))
    sc.taps(times, [phones[i] for i in order], spots, network="wifi-bag")


def test_a_bag_checked_in_and_out_by_one_hand_is_reported() -> None:
    """Twelve phones on five days: checked in by one hand at 09:00 and checked out by the
    same hand at 17:00, never used otherwise. The accounts are at the place again eight
    hours later, but only in the bag's own check-out: nobody stayed, `people_stay` is
    absent, the steady hand and the hotspot count, and the bag is reported. With the
    fourteenth round's code the check-out read as people staying, set the timing and the
    network aside, and the bag scored 0.53: not reported."""
    sc = Scenario(seed=151)
    bag = people("bag", 12)
    for d in range(5):
        bag_in(sc, bag, d, 0.0)
        bag_in(sc, bag, d, EVENING)
    [f] = detect(sc)
    assert not signal(f, "people_stay")["present"]
    assert signal(f, "steady_rhythm")["present"]
    assert signal(f, "shared_network")["present"]


def test_phones_checked_out_by_their_owners_one_by_one_stayed() -> None:
    """The same twelve phones checked in by one hand at 09:00, but checked out at the
    same spot by their owners, each at a moment of their own over the hour after 17:00
    and on mobile data: the owners were there with them, hours later, so the group stayed
    on (`people_stay` present, and the morning's steady hand is a server's)."""
    sc = Scenario(seed=152)
    bag = people("staff", 12)
    for d in range(5):
        bag_in(sc, bag, d, 0.0)
        out = np.sort(BASE + d * DAY + EVENING + sc.rng.uniform(0, 3600, len(bag)))
        for t, a in zip(out, sc.rng.permutation(bag).tolist(), strict=True):
            sc.checkin(float(t), a, *sc.rng.uniform(-2.0, 2.0, 2))
    [f] = detect(sc, min_score=0.01)
    assert signal(f, "people_stay")["present"]
    assert not signal(f, "steady_rhythm")["present"]
