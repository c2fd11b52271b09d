"""Bulk check-in, sixteenth round: phones seen before or after, pooled. A patrol's
volunteers come from and go to homes of their own, but only a few are seen at home on
either side, each side under what `people_arrive` and `people_leave` ask for; together
they are enough (`people_come_and_go`). Each scene is small and described in its test."""

from __future__ import annotations

import re

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
