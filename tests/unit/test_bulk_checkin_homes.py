"""Bulk check-in, thirteenth round: a family checking in at home every evening. Their
phones spend the day apart, each at its owner's work or school kilometres away, and come
home each on their own; a bag's phones are kept together. Phones that arrive each from a
place of their own, hours before, were not kept together, so the network they share is
the place's (a home's Wi-Fi), not a bag's. Each scene is small and described in its test."""

from __future__ import annotations

import math

import numpy as np

from tapwatch.detectors import bulk_checkin
from tapwatch.detectors.bulk_checkin.travel import _on_one_round
from tapwatch.events import EventType
from tests.unit.checkin_scenes import (
    BASE,
    DAY,
    LAT,
    LON,
    M_LAT,
    M_LON,
    Scenario,
    detect,
    people,
    signal,
)

EVENING = 11 * 3600.0  # 20:00 Asia/Shanghai (BASE is 09:00)


def family_evenings(sc: Scenario, family: list[str], *, by_day: bool) -> None:
    """`family` checking in round the dinner table (within 2 m) on the home Wi-Fi on four
    evenings at 20:00, each at a moment of their own within the same minute (no rhythm:
    as people answering "time to check in"); with `by_day`, each member read the app at work
    or school 3-8 km away, in a direction of their own, 4-8 h before that evening's
    check-in (on the same phone, on mobile data)."""
    for d in range(4):
        start = BASE + d * DAY + EVENING
        times = start + sc.rng.permutation(sc.rng.uniform(0, 60, len(family)).round(1))
        times.sort()
        order = sc.rng.permutation(len(family))
        spots = sc.rng.uniform(-1.0, 1.0, (len(family), 2))
        sc.taps(times, [family[i] for i in order], spots, network="wifi-home")
        if not by_day:
            continue
        sc.days_at_work(family, start, d)


def test_a_family_home_from_their_own_days_shares_the_homes_network_not_a_bags() -> None:
    """Seven members of a family check in at home on its Wi-Fi every evening for four
    evenings, each having read the app at their own work or school, kilometres apart,
    hours before. Their phones came each from a place of their own, so they were not kept
    together: `day_apart` counts (they were seen 4-8 h before, beyond the two hours
    `people_arrive` looks at), and the shared network is the home's, not counted: no
    finding. With the twelfth round's code (the network counted, nothing from their
    days) the family was reported, as it is with `day_apart` switched off."""
    sc = Scenario(seed=131)
    family_evenings(sc, people("fam", 7), by_day=True)
    assert detect(sc) == []
    [f] = detect(sc, min_score=0.05)
    assert signal(f, "day_apart")["present"]
    net = signal(f, "shared_network")
    assert not net["present"] and net["value"] >= 1.0  # measured, not counted
    [off] = detect(sc, day_apart_s=bulk_checkin.Settings().leave_s)  # no hours to look at
    assert signal(off, "shared_network")["present"]


def test_phones_kept_together_on_one_network_still_share_it() -> None:
    """The same seven phones, the same evenings and Wi-Fi, never seen anywhere else by
    day (a bag of phones that lives at the spot): nothing says they came each their own
    way, so the shared network counts and the set is reported."""
    sc = Scenario(seed=131)
    family_evenings(sc, people("fam", 7), by_day=False)
    [f] = detect(sc)
    assert signal(f, "shared_network")["present"]
    assert not signal(f, "day_apart")["present"]


def test_phones_seen_one_after_another_along_a_road_are_a_collectors_round() -> None:
    """Eight phones seen, hours before a check-in, each at a house along one road (300 m
    apart), one after another in road order, 10 minutes apart: a collector going from
    door to door, who gathered them; eight phones seen at workplaces 3-8 km out, each in
    a direction of its own, at random hours: people each about their own day."""
    road = [(M_LAT * 300.0 * k, 0.0, 600.0 * k) for k in range(8)]
    assert _on_one_round([(LAT + dy, LON + dx, t) for dy, dx, t in road], 0.5)
    rng = np.random.default_rng(7)
    days = []
    for k in range(8):
        angle, far = 2 * math.pi * k / 8, rng.uniform(3000, 8000)
        t = rng.uniform(0, 8 * 3600)
        days.append((LAT + M_LAT * far * math.sin(angle), LON + M_LON * far * math.cos(angle), t))
    assert not _on_one_round(days, 0.5)


def test_a_rooms_students_about_the_campus_by_day_spent_it_apart() -> None:
    """Seventeenth round. Six students of one dormitory room check in from their desks at
    the counsellor's message on the room's Wi-Fi on four nights, each at a moment of
    their own within the minute; by day each read the app in a campus building of their
    own, 400-900 m from the dormitory (each in a direction of their own), 4-8 h before.
    Round the corner, but each at a place of its own over 300 m (`one_place_m`) from the
    room, the farthest two over 1 km apart: they spent the day apart with their owners
    (`day_apart`), so the room's Wi-Fi is the place's, and the room is not reported.
    Before this round a phone had to be seen over 1 km from the place (as with
    `one_place_m` at 1 km here): none was, `day_apart` did not count, the Wi-Fi did, and
    the room was reported."""
    room = people("student", 6)
    sc = Scenario(seed=131)
    for d in range(4):
        night = BASE + d * DAY + EVENING
        times = np.sort(night + sc.rng.permutation(sc.rng.uniform(0, 60, len(room)).round(1)))
        order = sc.rng.permutation(len(room))
        spots = sc.rng.uniform(-1.0, 1.0, (len(room), 2))
        sc.taps(times, [room[i] for i in order], spots, network="wifi-room")
        for k, a in enumerate(room):
            angle = 2 * math.pi * (k + 0.3 * d) / len(room)
            far = sc.rng.uniform(400, 900)
            ts = night - sc.rng.uniform(4, 8) * 3600
            sc.checkin(ts, a, far * math.cos(angle), far * math.sin(angle), type=EventType.read)
    assert detect(sc) == []
    [f] = detect(sc, min_score=0.05)
    assert signal(f, "day_apart")["present"]
    assert not signal(f, "shared_network")["present"]
    [before] = detect(sc, one_place_m=1000.0)
    assert not signal(before, "day_apart")["present"]
    assert signal(before, "shared_network")["present"]
