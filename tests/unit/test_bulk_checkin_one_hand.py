"""Bulk check-in, fourteenth round: what one hand's timing says and what it does not.

A hand tapping phones laid out keeps a quick pace only over a table's worth of phones; a
hall of a hundred answering one call averages that pace too, but over its own spread of
delays. And one hand's timing says who tapped the phones, not where they spent the day: a
family member checking in everyone's phone at the dinner table is one hand, the phones
having been with their owners, kilometres apart, all day. Each scene is small and
described in its test."""

from __future__ import annotations

import math

import numpy as np

from tapwatch.detectors import bulk_checkin
from tests.unit.checkin_scenes import BASE, DAY, Scenario, detect, people, signal

EVENING = 11 * 3600.0  # 20:00 Asia/Shanghai (BASE is 09:00)


def banquet(sc: Scenario, guests: list[str], *, span_s: float) -> None:
    """A banquet hall: `guests` seated at round tables of ten (1 m in radius, 3 m apart,
    four tables a row), each checking in on their own phone and mobile data at a moment
    of their own within `span_s` of the host's call (uniform: no rhythm), one day."""
    n = len(guests)
    table = np.arange(n) // 10
    centre = np.column_stack(((table % 4) * 3.0, (table // 4) * 3.0))
    angle = sc.rng.uniform(0, 2 * math.pi, n)
    seats = centre + np.column_stack((np.cos(angle), np.sin(angle))) - centre.mean(axis=0)
    times = BASE + 3 * 3600 + sc.rng.uniform(0, span_s, n)
    order = np.argsort(times)
    sc.taps(times[order], [guests[i] for i in order], seats[order])


def test_a_hall_answering_one_call_is_not_a_quick_hand() -> None:
    """120 guests at twelve tables check in within a minute of the host's call: half a
    second a phone on average, the pace of a hand sweeping phones laid out, but kept for
    a minute by a crowd whose number, not whose hand, sets it. Not `all_at_once` (it was
    with the thirteenth round's code, which read any pace under 0.6 s a phone as one
    hand however long it lasted), and not reported."""
    sc = Scenario(seed=141)
    banquet(sc, people("guest", 120), span_s=60.0)
    found = detect(sc, min_score=0.01)
    at_once = [signal(f, "all_at_once") for f in found]
    assert at_once and all(g["value"] <= 0.6 for g in at_once)  # a quick hand's pace
    assert not any(g["present"] for g in at_once)
    assert detect(sc) == []


def test_a_table_of_phones_swept_by_a_quick_hand_is_still_all_at_once() -> None:
    """Forty phones laid out on one table and tapped in quick succession, half a second
    apart on average (about 20 s in all), each on its own mobile data, one day: all at
    once, and reported."""
    sc = Scenario(seed=142)
    sc.table_ring(BASE + 3600, people("bag", 40), gap=0.5)
    [f] = detect(sc)
    assert signal(f, "all_at_once")["present"]


def one_member_taps(sc: Scenario, family: list[str], *, by_day: bool) -> None:
    """`family` on four evenings at 20:00 on the home Wi-Fi, one member taking each one's
    phone at the dinner table (within half a metre) and checking it in, 5 s apart, in a
    different order each evening; with `by_day`, each member read the app at their own
    work or school, 3-8 km out in a direction of their own, 4-8 h before."""
    for d in range(4):
        start = BASE + d * DAY + EVENING
        order = sc.rng.permutation(len(family))
        times = start + 5.0 * np.arange(len(family)) + sc.rng.uniform(-0.3, 0.3, len(family))
        spots = sc.rng.uniform(-0.5, 0.5, (len(family), 2))
        sc.taps(times, [family[i] for i in order], spots, network="wifi-home")
        if not by_day:
            continue
        sc.days_at_work(family, start, d)


def test_a_family_whose_phones_one_member_taps_spent_the_day_apart() -> None:
    """Six members of a family, on four evenings at 20:00 on the home Wi-Fi: the
    grandchild takes each one's phone at the dinner table and checks it in, one after
    another, 5 s apart (a steady rhythm: one hand, measured though not weighed at a
    family's size). Each member had read the app at their
    own work or school, 3-8 km out in a direction of their own, 4-8 h before. One hand
    tapped the phones, but they were with their owners, kilometres apart, all day: the
    phones spent the day apart (`day_apart` counts, and the home's network is not a
    bag's): no finding. With the thirteenth round's code `day_apart` did not count under
    one hand's timing and the family was reported."""
    sc = Scenario(seed=143)
    one_member_taps(sc, people("fam", 6), by_day=True)
    [f] = detect(sc, min_score=0.01)
    assert signal(f, "steady_rhythm")["present"]  # one hand's timing
    assert signal(f, "day_apart")["present"]
    assert not signal(f, "shared_network")["present"]
    assert detect(sc) == []


def test_the_same_phones_kept_together_and_tapped_by_one_hand_are_reported() -> None:
    """The same six phones, evenings, Wi-Fi and steady tapping, never seen anywhere by
    day: nothing says they were with their owners, the shared network counts, and the
    set is reported."""
    sc = Scenario(seed=143)
    one_member_taps(sc, people("fam", 6), by_day=False)
    [f] = detect(sc)
    assert signal(f, "steady_rhythm")["present"]
    assert signal(f, "shared_network")["present"]
    assert not signal(f, "day_apart")["present"]


def intake(sc: Scenario, candidates: list[str], *, check_out: int) -> None:
    """An exam intake on two mornings: an invigilator at the hall door checks each
    candidate's ID and has them check in, one every 8 s (a steady pace), all within a
    metre of the door, each on their own phone and mobile data, in a different order each
    day; 2.5 h later, after the paper, `check_out` of them check out at the door as they
    leave, each at a moment of their own over 40 minutes."""
    for d in range(2):
        start = BASE + d * DAY
        order = sc.rng.permutation(len(candidates))
        n = len(candidates)
        times = start + 8.0 * np.arange(n) + sc.rng.uniform(-0.5, 0.5, n)
        sc.taps(times, [candidates[i] for i in order], sc.rng.uniform(-0.5, 0.5, (n, 2)))
        out = np.sort(start + 2.5 * 3600 + sc.rng.uniform(0, 2400, check_out))
        for t, i in zip(out, sc.rng.permutation(n)[:check_out], strict=True):
            sc.checkin(float(t), candidates[i], *sc.rng.uniform(-1.0, 1.0, 2))


def test_a_queue_whose_people_stay_on_was_served_not_carried() -> None:
    """Twenty candidates checked in one at a time at the door at a steady pace (one
    hand's timing), and twelve of them check out at the same door hours later: the people
    stayed, so the phones were in their owners' hands and the steady hand was the
    invigilator's, a server's, not a holder's: a bag is checked in and goes. The timing
    does not count and the intake is not reported (it was with the thirteenth round's
    code, which set the timing aside only for phones seen coming or going)."""
    sc = Scenario(seed=144)
    intake(sc, people("cand", 20), check_out=12)
    [f] = detect(sc, min_score=0.01)
    assert signal(f, "people_stay")["present"]
    assert not signal(f, "steady_rhythm")["present"]
    assert detect(sc) == []


def test_a_bag_tapped_at_the_same_pace_that_goes_is_reported() -> None:
    """The same twenty phones at the same door and pace on the same mornings, nobody at
    the place again later: one holder's timing, reported."""
    sc = Scenario(seed=144)
    intake(sc, people("cand", 20), check_out=0)
    [f] = detect(sc)
    assert signal(f, "steady_rhythm")["present"]
    assert not signal(f, "people_stay")["present"]


def two_at_a_time(sc: Scenario, phones: list[str], *, network: str | None) -> None:
    """One operator on a bench taking the phones two at a time, one in each hand, tapping
    the pair 0.5-1.5 s apart, the next pair 10-20 s later (while it is picked up), the
    phones within half a metre, one morning."""
    t, times = BASE + 3600, []
    for _ in range(len(phones) // 2):
        times += [t, t + sc.rng.uniform(0.5, 1.5)]
        t = times[-1] + sc.rng.uniform(10, 20)
    sc.taps(np.array(times), phones, sc.rng.normal(0, 0.3, (len(phones), 2)), network=network)


def test_phones_tapped_two_at_a_time_are_lots_not_many_hands() -> None:
    """Thirty phones on one Wi-Fi, tapped two at a time by one operator: every other gap
    is a pair within seconds, far more pairs than people arriving on their own make (about
    one gap in six), so the pairs are lots, not many hands: `many_hands` is measured but
    not counted and the bag is reported. With the thirteenth round's code the pairs read
    as people (likelihood ratio far over 20) and the bag was not reported."""
    sc = Scenario(seed=145)
    two_at_a_time(sc, people("bag", 30), network="wifi-bag")
    [f] = detect(sc)
    hands = signal(f, "many_hands")
    assert hands["value"] >= bulk_checkin.Settings().many_hands_ratio
    assert not hands["present"]


def test_people_arriving_with_a_companion_now_and_then_are_still_many_hands() -> None:
    """Twenty people checking in at a counter over ten minutes, each at a moment of their
    own, four of them with a companion a second behind: pairs about as often as people
    on their own make them; `many_hands` counts."""
    sc = Scenario(seed=146)
    n = 20
    times = np.sort(BASE + 3600 + sc.rng.uniform(0, 600, n))
    for i in (3, 8, 13, 18):
        times[i] = times[i - 1] + sc.rng.uniform(0.3, 1.0)
    times.sort()
    sc.taps(times, people("visitor", n), sc.rng.normal(0, 0.5, (n, 2)), network="wifi-hall")
    [f] = detect(sc, min_score=0.01)
    assert signal(f, "many_hands")["present"]


def course(sc: Scenario, trainees: list[str], *, check_out: bool) -> None:
    """A course of `trainees` at a training centre on three mornings, all on the centre's
    Wi-Fi: each checks in at their seat (within 3 m) at a moment of their own within 90 s
    of the instructor's call; with `check_out`, each checks out at a moment of their own
    over the 20 minutes after the day's session, three hours later."""
    n = len(trainees)
    for d in range(3):
        start = BASE + d * DAY
        seats = sc.rng.uniform(-3.0, 3.0, (n, 2))
        times = start + sc.rng.uniform(0, 90, n)
        order = np.argsort(times)
        sc.taps(times[order], [trainees[i] for i in order], seats[order], network="wifi-centre")
        if check_out:
            out = start + 3 * 3600 + sc.rng.uniform(0, 1200, n)
            order = np.argsort(out)
            sc.taps(out[order], [trainees[i] for i in order], seats[order], network="wifi-centre")


def test_a_network_shared_by_people_who_stayed_on_is_the_places() -> None:
    """Twelve trainees on the centre's Wi-Fi on three mornings, checking out three hours
    later: they stayed on at the place (`people_stay`), so the network they share is the
    centre's, which anyone there joins, not a bag's: measured, not counted, and the course
    is not reported. With the thirteenth round's code the network counted and the course
    was reported."""
    sc = Scenario(seed=147)
    course(sc, people("trainee", 12), check_out=True)
    [f] = detect(sc, min_score=0.01)
    assert signal(f, "people_stay")["present"]
    net = signal(f, "shared_network")
    assert net["value"] >= 0.8 and not net["present"]
    assert detect(sc) == []


def test_a_network_shared_by_phones_that_leave_still_counts() -> None:
    """The same twelve phones, Wi-Fi and mornings, nobody at the place again later: the
    shared network counts and the set is reported."""
    sc = Scenario(seed=147)
    course(sc, people("trainee", 12), check_out=False)
    [f] = detect(sc)
    assert signal(f, "shared_network")["present"]
