"""Bulk check-in, eighth round: a queue served one at a time is people, not a bag. People
who came each their own way count whatever the timing; leaving is measured from the end
of the group's stay, and counts under one hand's timing once the group stayed for hours.
Each scene is small and described in its test."""

from __future__ import annotations

import math

import numpy as np

from tapwatch.events import EventType
from tests.unit.checkin_scenes import BASE, DAY, Scenario, detect, people, signal


def queue(sc: Scenario, accounts: list[str], day: int, steady: bool) -> np.ndarray:
    """`accounts` in a fresh order at a door (within 1.5 m), one at a time: every 9-11 s
    (an invigilator checking IDs at a steady pace: one hand's timing) or, with `steady`
    False, 15-40 s apart at random; returns the check-in times in account order."""
    gaps = sc.rng.uniform(9, 11, len(accounts)) if steady else sc.rng.uniform(15, 40, len(accounts))
    times = BASE + day * DAY + np.cumsum(gaps)
    order = sc.rng.permutation(len(accounts))
    sc.taps(times, [accounts[i] for i in order], sc.rng.uniform(-1.5, 1.5, (len(accounts), 2)))
    out = np.empty(len(accounts))
    out[order] = times
    return out


def far_away(sc: Scenario, account: str, ts: float, k: int, of: int) -> None:
    """`account` reading the app on its phone 3-8 km away, direction k of `of`."""
    angle = 2 * math.pi * k / of
    far = sc.rng.uniform(3000, 8000)
    sc.checkin(ts, account, far * math.cos(angle), far * math.sin(angle), type=EventType.read)


def arrivals_from_home(sc: Scenario, accounts: list[str], check_out: int) -> None:
    """`accounts` queueing at a door on three days at a steady pace (one hand's timing);
    the first six read the app at home 3-8 km away, each in a direction of their own,
    30-90 minutes before their own check-in; the last `check_out` check out at the door
    three hours after the last check-in."""
    for d in range(3):
        times = queue(sc, accounts, d, steady=True)
        for k in range(6):
            far_away(sc, accounts[k], float(times[k]) - sc.rng.uniform(1800, 5400), k + d, 6)
        for k, a in enumerate(accounts[len(accounts) - check_out :]):
            sc.checkin(float(times.max()) + 3 * 3600 + 60.0 * k, a, 0.5 * k, 0.0)


def test_queue_served_one_at_a_time_that_stayed_came_each_their_own_way() -> None:
    """Fourteen candidates checked in at an exam hall door on three days at an
    invigilator's steady pace (one hand's timing); six of them read the app at home,
    kilometres apart, before; three check out three hours later. A bag is checked in
    and goes; a group at the place again hours later stayed, so its phones in use at
    places kilometres apart before came with their owners: `people_arrive` counts even
    though the timing shows one hand (it did not before the eighth round). Since the
    ninth round the steady pace is then one server's (the invigilator's), not one
    holder's, and no longer counts: the queue is no finding at all."""
    sc = Scenario(seed=81)
    arrivals_from_home(sc, people("cand", 14), check_out=3)
    assert detect(sc) == []
    [f] = detect(sc, min_score=0.4)
    assert one_hand_measured(f, "steady_rhythm")
    arrive = signal(f, "people_arrive")
    assert arrive["present"] and arrive["value"] >= 6 / 14 - 1e-3
    [without] = detect(sc, min_score=0.4, weight_leave=0.0)
    assert f.score < without.score


def one_hand_measured(f: object, code: str) -> bool:
    """Whether the timing signal `code` measured one hand (steady enough) but was not
    counted, the phones having come or gone with their owners (one server's pace)."""
    g = signal(f, code)
    return g["value"] <= g["threshold"] and not g["present"]


def test_own_phones_used_at_home_then_gathered_into_one_hand_did_not_come() -> None:
    """The same queue with only one account at the place again later (an official who
    works there, or a passer-by chained into the burst): officials' own phones, used at
    home in the morning and gathered into one hand (at the office, or round their homes)
    before one operator taps them, look the same before the check-in; one account back
    is not the group staying on, so `people_arrive` is measured but not counted."""
    sc = Scenario(seed=81)
    arrivals_from_home(sc, people("official", 14), check_out=1)
    [f] = detect(sc)
    arrive = signal(f, "people_arrive")
    assert arrive["value"] >= 6 / 14 - 1e-3 and not arrive["present"]


def test_phones_gathered_at_one_office_under_one_hand_did_not_come_together() -> None:
    """The same door and pace with twelve phones that were all in use at one office 2 km
    away 10-30 minutes before: one place, gathered into one hand (a bag collected from
    the officials), so `came_together` is measured but not counted, and `people_arrive`
    (places kilometres apart) is absent."""
    sc = Scenario(seed=82)
    bag = people("official", 12)
    for d in range(3):
        times = queue(sc, bag, d, steady=True)
        for k in range(8):
            sc.checkin(
                float(times.min()) - sc.rng.uniform(600, 1800),
                bag[k],
                2000.0 + sc.rng.normal(0, 15),
                -1000.0 + sc.rng.normal(0, 15),
                type=EventType.read,
            )
    [f] = detect(sc)
    together = signal(f, "came_together")
    assert together["value"] >= 8 / 12 - 1e-3 and not together["present"]
    assert not signal(f, "people_arrive")["present"]


def check_out_and_go_home(sc: Scenario, accounts: list[str], steady: bool) -> None:
    """`accounts` checked in at a door on three days (see `queue`); the last three check
    out three hours after the last check-in, and the first six read the app 3-8 km away,
    each in a direction of their own, 20-60 minutes after that."""
    for d in range(3):
        times = queue(sc, accounts, d, steady=steady)
        out = float(times.max()) + 3 * 3600
        for k, a in enumerate(accounts[-3:]):
            sc.checkin(out + 60.0 * k, a, 0.5 * k, 0.0)
        for k in range(6):
            far_away(sc, accounts[k], out + sc.rng.uniform(1200, 3600), k + d, 6)


def test_course_leaving_after_its_check_out_went_their_own_ways() -> None:
    """Fourteen trainees checked in 15-40 s apart at random (no one hand's timing) on three
    days; three check out at the door three hours later (too few for people_stay), and
    six read the app 3-8 km away, each in a direction of their own, 20-60 minutes after
    the check-out, more than two hours after their check-in. Leaving is measured from the
    end of the group's stay, so they went their own ways and the course is silent;
    measured from each one's check-in (before this round) nobody left in time, and the
    course was reported."""
    sc = Scenario(seed=83)
    course = people("trainee", 14)
    check_out_and_go_home(sc, course, steady=False)
    assert detect(sc) == []
    [f] = detect(sc, weight_leave=0.0)
    assert not signal(f, "people_stay")["present"]
    assert signal(f, "people_leave")["value"] >= 6 / 14 - 1e-3


def test_queue_leaving_after_a_stay_of_hours_counts_under_one_hand() -> None:
    """The exam queue at a steady pace (one hand's timing), three candidates checking out
    three hours later, six reading the app far away, each their own way, 20-60 minutes
    after that: phones handed back by one operator go right after the check-in; these
    stayed at the place for hours with the group before going their own ways, so
    `people_leave` counts (it did not before the eighth round), and the steady pace,
    one server's, does not (since the ninth)."""
    sc = Scenario(seed=84)
    candidates = people("cand", 14)
    check_out_and_go_home(sc, candidates, steady=True)
    [f] = detect(sc, weight_leave=0.0)
    assert one_hand_measured(f, "steady_rhythm")
    leave = signal(f, "people_leave")
    assert leave["present"] and leave["value"] >= 6 / 14 - 1e-3


def test_phones_handed_back_before_anyone_came_again_do_not_count_under_one_hand() -> None:
    """One operator taps twelve phones at a steady pace on three days; eight go back to
    their owners, who use the app 3-8 km away 30-60 minutes later, and three officials
    come back to the place four hours later. The phones dispersed before the group was
    there again, right after one hand checked them in: handed back, not people leaving
    after a stay, so `people_leave` (after the stay) is absent."""
    sc = Scenario(seed=85)
    owners = people("official", 12)
    for d in range(3):
        times = queue(sc, owners, d, steady=True)
        end = float(times.max())
        for k in range(8):
            far_away(sc, owners[k], end + sc.rng.uniform(1800, 3600), k, 8)
        for k, a in enumerate(owners[-3:]):
            sc.checkin(end + 4 * 3600 + 60.0 * k, a, 0.5 * k, 0.0)
    [f] = detect(sc, weight_leave=0.0)
    assert not signal(f, "people_leave")["present"]
