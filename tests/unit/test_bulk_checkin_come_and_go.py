"""Bulk check-in, sixteenth round: phones seen before or after, pooled. A patrol's
volunteers come from and go to homes of their own, but only a few are seen at home on
either side, each side under what `people_arrive` and `people_leave` ask for; together
they are enough (`people_come_and_go`). Each scene is small and described in its test."""

from __future__ import annotations

import re

import numpy as np

from tapwatch.detectors import bulk_checkin
from tapwatch.events import EventType
from tests.unit.checkin_scenes import BASE, DAY, Scenario, detect, people, signal, walk_route

EVENING = 11 * 3600.0  # 20:00 Asia/Shanghai (BASE is 09:00)


def walk(sc: Scenario, team: list[str], homes: dict[str, tuple[float, float, bool]]) -> set[str]:
    """`team` walks one route of six checkpoints 400 m apart along a street on three
    evenings, ten minutes between checkpoints; at each, everyone checks in on their own
    phone within half a minute of getting there, at moments of their own. `homes`: the
    volunteers seen at home (east, north metres; True: 20-60 min before the first
    checkpoint, False: 20-60 min after the last), reading the app there. The ids of the
    second checkpoint's check-ins."""
    second: set[str] = set()
    for d in range(3):
        start = BASE + d * DAY + EVENING
        second |= set(walk_route(sc, team, start, 30.0))
        for a, (east, north, before) in homes.items():
            ts = start - sc.rng.uniform(1200, 3600) if before else start + 3060
            ts += 0 if before else sc.rng.uniform(1200, 3600)
            sc.checkin(ts, a, east, north, type=EventType.read)
    return second


def second_checkpoint(sc: Scenario, second: set[str], **overrides: object) -> object:
    """The finding holding the second checkpoint's check-ins, whatever its score."""
    found = detect(sc, min_score=0.05, **overrides)
    [f] = [f for f in found if second <= set(f.evidence["event_ids"])]
    return f


def test_a_patrol_seen_at_homes_all_round_before_and_after_came_and_went_its_own_ways() -> None:
    """Nine volunteers walk the route; two are seen at home before (2.5 km north, 2.5 km
    south-west of the first checkpoint) and two others after (east-north-east and
    south-east, 3-4 km on from the last): two a side, under the three `people_arrive`
    and `people_leave` ask for. Pooled, four phones at places of their own kilometres
    apart, all round the place, not along one round: people coming and going each their
    own way (`people_come_and_go`), which takes the walk under the report threshold
    (with the fifteenth round's code neither side counted and it was reported at 0.67;
    now 0.53)."""
    team = people("vol", 9)
    homes = {
        team[0]: (0.0, 2500.0, True),
        team[1]: (-2000.0, -1500.0, True),
        team[2]: (4500.0, 1500.0, False),
        team[3]: (3000.0, -2500.0, False),
    }
    sc = Scenario(seed=161)
    f = second_checkpoint(sc, walk(sc, team, homes))
    assert not signal(f, "people_arrive")["present"]
    assert not signal(f, "people_leave")["present"]
    pooled = signal(f, "people_come_and_go")
    assert pooled["present"] and pooled["value"] >= 4 / 9 - 1e-3
    [why] = [r.text for r in f.reasons if r.code == "people_come_and_go"]
    assert re.search(r"up to \d+\.\d km apart", why)  # the distance, as the inspector reads it
    assert f.score < bulk_checkin.Settings().min_score


def test_phones_seen_along_one_road_one_way_from_the_place_do_not_count() -> None:
    """The same walk with the four phones seen at homes along one road 3-4.5 km east of
    the place, two before and two after: a collector's round out that way and back
    (`round_trip`) shows that too, so the pooled sightings do not count and the walk is
    reported as before."""
    team = people("vol", 9)
    homes = {
        team[0]: (3000.0, 0.0, True),
        team[1]: (3500.0, 300.0, True),
        team[2]: (4000.0, 700.0, False),
        team[3]: (4500.0, 1200.0, False),
    }
    sc = Scenario(seed=161)
    second = walk(sc, team, homes)
    pooled = signal(second_checkpoint(sc, second), "people_come_and_go")
    assert pooled["value"] >= 4 / 9 - 1e-3 and not pooled["present"]
    # All one way is what rules them out: taken as all round, they would count.
    assert signal(second_checkpoint(sc, second, one_way_share=1.0), "people_come_and_go")["present"]
    assert second_checkpoint(sc, second).score >= bulk_checkin.Settings().min_score


def dance(sc: Scenario, troupe: list[str], homes: dict[str, tuple[float, float, bool]]) -> set[str]:
    """`troupe` dances in a square on four evenings: as the music starts each checks in on
    their own phone from their place in the formation (rows 2 m apart), after a delay of
    their own (lognormal around a minute). `homes`: dancers seen at home (east, north
    metres; True: 20-50 min before the music, False: 70-100 min after), reading the app
    there. The ids of the first evening's check-ins."""
    first: set[str] = set()
    marks = np.array([(k % 4, k // 4) for k in range(len(troupe))]) * 2.0
    for d in range(4):
        music = BASE + d * DAY + EVENING
        times = music + 60.0 * sc.rng.lognormal(0.0, 0.5, len(troupe))
        taps = sc.taps(times, troupe, marks + sc.rng.normal(0, 0.2, marks.shape))
        if d == 0:
            first = {e.id for e in taps}
        for a, (east, north, before) in homes.items():
            ts = (
                music - sc.rng.uniform(1200, 3000) if before else music + sc.rng.uniform(4200, 6000)
            )
            sc.checkin(ts, a, east, north, type=EventType.read)
    return first


def first_evening(
    homes_at: list[tuple[float, float]], before: int = 2, **overrides: object
) -> object:
    """The finding holding the first evening of twelve dancers of whom some are seen at
    home at `homes_at` (east, north metres), the first `before` of them before the music,
    the others after; whatever its score."""
    troupe = people("dancer", 12)
    homes = {troupe[k]: (*at, k < before) for k, at in enumerate(homes_at)}
    sc = Scenario(seed=171)
    first = dance(sc, troupe, homes)
    [f] = [
        f for f in detect(sc, min_score=0.05, **overrides) if first <= set(f.evidence["event_ids"])
    ]
    return f


ROUND_THE_CORNER = [(0.0, 800.0), (0.0, -700.0), (900.0, 0.0), (-600.0, 0.0)]
NEXT_DOOR = [(0.0, 200.0), (0.0, -150.0), (250.0, 0.0), (-200.0, 0.0)]


def test_dancers_seen_at_homes_round_the_square_came_and_went_their_own_ways() -> None:
    """Twelve neighbours dance on four evenings; four are seen at home on the estates
    around the square, 600-900 m away (north, south, east, west), two before the music
    and two after: homes round the corner, under the kilometre `people_arrive` and
    `people_leave` ask of a phone seen away, but each at a place of its own, over 300 m
    from the square and from the others, the farthest two over 1 km apart. Pooled,
    people coming and going each their own way (`people_come_and_go`), counted against
    the dance (with the sixteenth round's code a sighting had to be over 1 km from the
    square, as with `one_place_m` at 1 km here, and none counted)."""
    f = first_evening(ROUND_THE_CORNER)
    pooled = signal(f, "people_come_and_go")
    assert pooled["present"] and pooled["value"] >= 4 / 12 - 1e-3
    before = first_evening(ROUND_THE_CORNER, one_place_m=1000.0)
    assert not signal(before, "people_come_and_go")["present"]
    assert f.score < before.score  # type: ignore[attr-defined]


def test_phones_seen_next_door_to_the_square_are_no_place_of_their_own() -> None:
    """The same dance with the four dancers seen 150-250 m from the square (the shops on
    its sides), each side of it: within 300 m of the square, as a bag's phones in the
    office by the square would be. They do not count, and the dance scores as if nobody
    had been seen."""
    f = first_evening(NEXT_DOOR)
    assert not signal(f, "people_come_and_go")["present"]
    assert f.score == first_evening([]).score  # type: ignore[attr-defined]


def test_dancers_seen_at_homes_round_the_square_before_the_music_came_their_own_ways() -> None:
    """Three of the dancers seen at home 600-900 m away (north, south, east), all before
    the music: enough on that side alone for `people_arrive` (three, a fifth of the
    troupe, the farthest two over 1 km apart), which now asks a phone to be over 300 m
    from the place (`one_place_m`), not over 1 km (`elsewhere_m`, as before this round),
    to have been at a place of its own."""
    f = first_evening(ROUND_THE_CORNER[:3], before=3)
    assert signal(f, "people_arrive")["present"]
    assert not signal(f, "people_come_and_go")["present"]  # not counted twice
    assert not signal(first_evening(ROUND_THE_CORNER[:3], 3, one_place_m=1000.0), "people_arrive")[
        "present"
    ]


def test_phones_seen_at_homes_along_one_road_before_are_a_round_not_people_arriving() -> None:
    """Nineteenth round. The walk with six volunteers seen at home before it, 20-60 min
    before the first checkpoint, at six places 500 m apart along one road 2.5-5 km east
    of the route: enough for `people_arrive` by count, but a collector fetching phones
    door to door out one way shows that whatever order they were seen in, so it is not
    counted; seen at six homes all round the route instead (as far out), it is."""
    team = people("vol", 9)
    road = {team[k]: (2500.0 + 500.0 * k, 100.0 * k, True) for k in range(6)}
    sc = Scenario(seed=161)
    second = walk(sc, team, road)
    came = signal(second_checkpoint(sc, second), "people_arrive")
    assert came["value"] >= 6 / 9 - 1e-3 and not came["present"]
    # All one way is what rules them out: taken as all round, they would count.
    assert signal(second_checkpoint(sc, second, one_way_share=1.0), "people_arrive")["present"]
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    all_round = {
        team[k]: (float(3500.0 * np.cos(a)), float(3500.0 * np.sin(a)), True)
        for k, a in enumerate(angles)
    }
    sc = Scenario(seed=161)
    second = walk(sc, team, all_round)
    assert signal(second_checkpoint(sc, second), "people_arrive")["present"]
