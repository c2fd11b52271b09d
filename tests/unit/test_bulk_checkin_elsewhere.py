"""Bulk check-in, fifteenth round: an account elsewhere at the same time. An official
whose account is checked in on a phone in a bag at the risk point, while they use the
app on their own phone kilometres away, is one account on two phones in two places at
once: the bag's hallmark. One phone seen at two places too far apart to travel between
is that phone's position gone wrong (a check-in to a venue picked from a list from afar, a
bad fix), not two phones, and says nothing about a bag. Each scene is small and described
in its test."""

from __future__ import annotations

import numpy as np

from tapwatch.events import EventType
from tests.unit.checkin_scenes import BASE, DAY, Scenario, detect, people, signal

EVENING = 10 * 3600.0  # 19:00 Asia/Shanghai (BASE is 09:00)


def table_of_five(sc: Scenario, friends: list[str], *, far_on: str) -> None:
    """`friends` check in at one café table (within 1 m) on two evenings, each at a moment
    of their own within a minute, each on their own phone and data. On each evening, two
    minutes after checking in, the first of them is seen 6 km away: with `far_on` "same",
    a check-in on the very phone they checked in on (a venue picked from afar); with
    "other", a read on another phone of theirs (their own phone, while the one at the
    table was someone else's to tap)."""
    for d in range(2):
        start = BASE + d * DAY + EVENING
        times = np.sort(start + sc.rng.uniform(0, 60, len(friends)))
        sc.taps(times, friends, sc.rng.normal(0, 0.5, (len(friends), 2)))
        first = friends[0]
        t = float(times[0]) + 120.0
        if far_on == "same":
            sc.checkin(t, first, 6000.0, 0.0)
        else:
            sc.checkin(t, first, 6000.0, 0.0, device=f"own-{first}", type=EventType.read)


def test_one_phone_at_two_places_is_a_bad_position_not_an_account_elsewhere() -> None:
    """The far check-in is on the phone that was at the table: one phone, whose position
    at one of the two moments is wrong. `accounts_elsewhere` is measured but not counted,
    and the table is not reported. (With the fourteenth round's code it counted, half
    the doubt off, and the five were reported.)"""
    sc = Scenario(seed=153)
    table_of_five(sc, people("fr", 5), far_on="same")
    assert detect(sc) == []
    [f] = detect(sc, min_score=0.05)
    assert not signal(f, "accounts_elsewhere")["present"]


def test_an_account_on_another_phone_far_away_is_elsewhere() -> None:
    """The far activity is on another phone of the same account: one account on two
    phones in two places at once. `accounts_elsewhere` counts."""
    sc = Scenario(seed=153)
    table_of_five(sc, people("fr", 5), far_on="other")
    [f] = detect(sc, min_score=0.05)
    assert signal(f, "accounts_elsewhere")["present"]
