from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest

from tapwatch.detectors import study_inflation as si
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import Events, at, days, encoded, hm, make_input

NOW_DAY = date(2026, 11, 27)
NOW = at(NOW_DAY, hm(23))
WEEK = days(NOW_DAY - timedelta(days=6), 7)


def _honest_study(ev: Events, rng: random.Random, acct: str, d: date) -> None:
    """One evening of real study: two videos back to back at normal speed, then reading
    pages for as long as they take (log-normal dwell around 6 minutes)."""
    t = at(d, hm(19) + rng.uniform(0, 1800))
    for _ in range(2):
        length = rng.choice([1200.0, 1800.0, 2400.0])
        rate = rng.choice([1.0, 1.0, 1.25, 1.5])
        t += length / rate
        ev.add(t, EventType.study, acct, duration_s=length / rate, playback_rate=rate)
        t += rng.uniform(10, 120)
    for _ in range(3):
        dwell = rng.lognormvariate(math.log(360), 0.6)
        t += dwell
        ev.add(t, EventType.study, acct, duration_s=dwell)
        t += rng.uniform(5, 60)


def _healthy(rng: random.Random, accounts: int = 20, week: list[date] = WEEK) -> Events:
    ev = Events()
    for d in week:
        for i in range(accounts):
            if rng.random() < 0.6:
                _honest_study(ev, rng, f"h{i:02d}", d)
    return ev


def test_parallel_courses_are_credited_beyond_wall_clock():
    rng = random.Random(1)
    ev = _healthy(rng)
    for d in WEEK:
        for i in range(6):
            t = at(d, hm(20) + rng.uniform(0, 600))
            for _ in range(3):  # three courses left playing at once for an hour
                ev.add(
                    t + 3600 + rng.uniform(0, 5),
                    EventType.study,
                    f"x{i}",
                    duration_s=3600.0,
                    playback_rate=1.0,
                )
    out = si.detect(make_input(ev.items, NOW), si.Settings())
    assert len(out) == 1
    f = out[0]
    assert [r.code for r in f.reasons] == ["credited_beyond_wall_clock"]
    # 6 parallel accounts a day against ~12 honest ones
    assert 0.2 < f.reasons[0].value < 0.45
    assert f.evidence["accounts"] == [f"x{i}" for i in range(6)]
    assert f.evidence["overlapping_study_events"] == 6 * 7 * 2
    day = f.evidence["credit_vs_wall_clock"][0]
    assert day["excess_s"] == pytest.approx(6 * 7200, abs=60)  # two of three hours, twice
    assert f.evidence["event_ids_total"] == 6 * 7 * 3
    points = f.evidence["account_day_points"]
    assert sum(c - w >= 7000 for c, w in points) == 6 * 7  # the parallel account-days


def test_one_fast_forwarded_lesson_a_day_is_credited_beyond_its_session():
    """No playback rate reported: a 60-minute lesson credited 8 minutes after the account
    opened that course."""
    rng = random.Random(7)
    ev = _healthy(rng)
    for d in WEEK:
        for i in range(6):
            t = at(d, hm(21) + rng.uniform(0, 600))
            ev.add(t, EventType.session_start, f"q{i}", target=f"course-{i}")
            ev.add(t + 480, EventType.study, f"q{i}", target=f"course-{i}", duration_s=3600.0)
            # opening another course proves nothing about this one
            ev.add(t, EventType.session_start, f"o{i}", target="course-x")
            ev.add(t + 480, EventType.study, f"o{i}", target=f"course-{i}", duration_s=3600.0)
    f = si.detect(make_input(ev.items, NOW), si.Settings())[0]
    assert [r.code for r in f.reasons] == ["credited_beyond_wall_clock"]
    assert f.evidence["accounts"] == [f"q{i}" for i in range(6)]
    assert f.evidence["overlapping_study_events"] == 0
    day = f.evidence["credit_vs_wall_clock"][0]
    # 60 minutes credited for 8 minutes open: 44 beyond what 2x playback would credit
    assert day["excess_s"] == pytest.approx(6 * (3600 - 2 * 480), abs=1)


def test_fast_forwarding_is_found():
    rng = random.Random(2)
    ev = _healthy(rng)
    for d in WEEK:
        for i in range(8):
            t = at(d, hm(21))
            for _ in range(4):  # 30-minute lessons played at 4x, one after another
                t += 450
                ev.add(t, EventType.study, f"f{i}", duration_s=1800.0, playback_rate=4.0)
    f = si.detect(make_input(ev.items, NOW), si.Settings())[0]
    assert [r.code for r in f.reasons] == [
        "credited_beyond_wall_clock", "playback_above_allowed"
    ]
    assert f.evidence["accounts"] == [f"f{i}" for i in range(8)]
    assert f.evidence["overlapping_study_events"] == 0
    day = f.evidence["credit_vs_wall_clock"][0]
    assert day["excess_s"] == pytest.approx(8 * 4 * 900, abs=1)  # half of each lesson's credit
    hist = f.evidence["playback_rate_histogram"]
    assert hist["counts"][8] == 8 * 4 * 7  # [4.0, inf)
    # ordinary fast viewing (up to 2x) sits in its own bins with honest users
    assert hist["counts"][4] > 0
    # a platform that calls 4x ordinary has only the credit beyond it to report
    lenient = si.detect(make_input(ev.items, NOW), si.Settings(allowed_playback_rate=4.0))
    assert lenient == []


def _honest_fast_learner(ev: Events, rng: random.Random, acct: str, d: date) -> None:
    """One evening of real study at 1.25-2x: each lesson opened, watched to the end once,
    the platform crediting the lesson's full length; the next opened after a short break.
    Some platforms report the rate, some do not."""
    t = at(d, hm(19) + rng.uniform(0, 3600))
    report_rate = rng.random() < 0.5
    for k in range(rng.randint(1, 3)):
        length = rng.choice([1200.0, 1800.0, 2700.0])
        rate = rng.choice([1.25, 1.5, 1.75, 2.0])
        course = f"course-{rng.randrange(40)}"
        if k % 2 == 0:
            ev.add(t, EventType.session_start, acct, target=course)
        t += length / rate
        ev.add(
            t, EventType.study, acct, target=course, duration_s=length,
            playback_rate=rate if report_rate else None,
        )
        t += rng.uniform(30, 600)


def test_honest_learners_at_up_to_2x_are_not_inflation():
    """The issue's independent case: many honest learners watch at 1.25-2x (far more than
    20 % of events above 1.5x), credited each lesson's full length."""
    rng = random.Random(9)
    ev = Events()
    for d in WEEK:
        for i in range(60):
            if rng.random() < 0.5:
                _honest_fast_learner(ev, rng, f"l{i:02d}", d)
    study = [e for e in ev.items if e.type == EventType.study]
    rated = [e for e in study if e.playback_rate is not None]
    assert len(study) > 300
    assert sum(e.playback_rate > 1.5 for e in rated) > 0.4 * len(rated)
    assert si.detect(make_input(ev.items, NOW), si.Settings()) == []


def test_dwell_piling_up_above_a_credit_threshold():
    rng = random.Random(3)
    ev = _healthy(rng)
    for d in WEEK:
        for i in range(15):
            t = at(d, hm(12))
            for _ in range(4):  # leave each page as soon as the 5-minute credit ticks
                t += 300 + rng.uniform(1, 12)
                ev.add(t, EventType.study, f"p{i:02d}", duration_s=300 + rng.uniform(0, 12))
    f = si.detect(make_input(ev.items, NOW), si.Settings())[0]
    assert [r.code for r in f.reasons] == ["threshold_pileup"]
    pile = f.evidence["threshold_pileup"]
    assert pile["threshold_s"] == 300.0 and pile["ratio"] >= 5
    rel = pile["histogram_relative"]
    assert sum(rel["counts"][20:25]) >= 15 * 4 * 7  # 1.00-1.05 x threshold


def test_honest_study_stays_silent():
    ev = _healthy(random.Random(4), accounts=40)
    assert si.detect(make_input(ev.items, NOW), si.Settings()) == []


@pytest.mark.parametrize(("december_factor", "found"), [(4.0, True), (1.2, False)])
def test_year_end_rush(december_factor: float, found: bool):
    now = at(date(2026, 12, 20), hm(8))
    ev = Events()
    for d in days(date(2026, 9, 1), 110, weekdays_only=True):
        factor = december_factor if d.month == 12 else 1.0
        for i in range(20):
            t = at(d, hm(19))
            for _ in range(round(2 * factor)):
                t += 1800
                ev.add(t, EventType.study, f"a{i:02d}", duration_s=1800.0, playback_rate=1.0)
    out = si.detect(make_input(ev.items, now), si.Settings())
    ye = [f for f in out if f.evidence["period"] == "2026"]
    assert len(ye) == int(found)
    if found:
        assert ye[0].reasons[0].value == pytest.approx(4.0, rel=0.15)
        assert ye[0].evidence["daily_study"][-1]["date"] == "2026-12-18"  # the last working day
    assert [f for f in out if f is not ye[0]] == [] if found else out == []


def test_empty_window_gives_nothing():
    assert si.detect(make_input([], NOW), si.Settings()) == []


def test_deterministic():
    rng = random.Random(6)
    ev = _healthy(rng)
    for d in WEEK:
        for i in range(15):
            for k in range(3):
                ev.add(
                    at(d, hm(22) + 600 * k),
                    EventType.study,
                    f"z{i}",
                    duration_s=600.0,
                    playback_rate=3.0,
                )
    a = si.detect(make_input(ev.items, NOW), si.Settings())
    b = si.detect(make_input(list(reversed(ev.items)), NOW), si.Settings())
    assert a and encoded(a) == encoded(b)
