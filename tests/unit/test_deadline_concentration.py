from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from tapwatch.detectors import deadline_concentration as dc
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import TZ, Events, at, days, encoded, hm, make_input

NOW_DAY = date(2026, 11, 27)  # a Friday
NOW = at(NOW_DAY, hm(20))
ACCOUNTS = [f"acct{i:02d}" for i in range(20)]


def _working_days(n_back: int) -> list[date]:
    return days(NOW_DAY - timedelta(days=n_back), n_back, weekdays_only=True)


def _submissions(ev: Events, d: date, n: int, rng: random.Random, rush: float) -> None:
    """n submissions on day d: a `rush` share between 16:00 and 17:00, the rest spread
    evenly over 9:00-16:00."""
    for i in range(n):
        if rng.random() < rush:
            s = hm(16) + rng.uniform(0, 3599)
        else:
            s = hm(9) + rng.uniform(0, 7 * 3600 - 1)
        ev.add(at(d, s), EventType.form_submit, ACCOUNTS[i % len(ACCOUNTS)])


def test_daily_deadline_rush_is_found():
    rng = random.Random(1)
    ev = Events()
    for d in _working_days(28):
        _submissions(ev, d, 60, rng, rush=0.75)
    out = dc.detect(make_input(ev.items, NOW), dc.Settings())
    daily = [f for f in out if f.evidence["signal"] == "daily_deadline"]
    assert len(daily) == 1
    f = daily[0]
    assert f.kind == dc.KIND and f.app == "app-test"
    assert f.reasons[0].value >= 0.9  # nearly every judged day is marked
    assert 0.65 < f.reasons[1].value < 0.85
    assert f.reasons[1].threshold == pytest.approx(0.125)
    assert f.evidence["hour_histogram"][16] > 3 * max(f.evidence["hour_histogram"][9:16])
    assert sum(f.evidence["hour_histogram"]) == 60 * len(_working_days(28))
    assert len(f.evidence["day_of_month_histogram"]) == 31
    # raw window (7 days) holds the event-id sample: last-hour submissions only
    assert 0 < f.evidence["event_ids_total"] <= 60 * 5
    assert len(f.evidence["event_ids"]) == min(500, f.evidence["event_ids_total"])
    assert 0.5 <= f.score <= 1.0 and f.confidence == 1.0
    assert "16:00" not in f.summary and "17:00" in f.summary


def test_evenly_spread_working_day_stays_silent():
    rng = random.Random(2)
    ev = Events()
    for d in _working_days(120):
        _submissions(ev, d, 60, rng, rush=1 / 8)
    assert dc.detect(make_input(ev.items, NOW), dc.Settings()) == []


def test_month_end_rush_is_found_and_even_months_are_not():
    rng = random.Random(3)
    rushed, even = Events(), Events()
    for d in days(NOW_DAY - timedelta(days=119), 119, weekdays_only=True):
        last3 = (d + timedelta(days=3)).month != d.month
        s = hm(10) + rng.uniform(0, 5 * 3600)
        for i in range(4):
            even.add(at(d, s + i), EventType.form_submit, ACCOUNTS[i])
        for i in range(12 if last3 else 2):
            rushed.add(at(d, s + i), EventType.form_submit, ACCOUNTS[i])
    out = dc.detect(make_input(rushed.items, NOW), dc.Settings())
    month = [f for f in out if f.evidence["signal"] == "month_end"]
    assert len(month) == 1
    f = month[0]
    assert f.evidence["period"] == "2026-10"
    assert [m["month"] for m in f.evidence["per_month"]] == ["2026-08", "2026-09", "2026-10"]
    assert f.reasons[1].value > 2.5
    dom = f.evidence["day_of_month_histogram"]
    assert dom[29] > dom[14]  # the 30th holds more than the 15th
    assert [g for g in dc.detect(make_input(even.items, NOW), dc.Settings())] == []


@pytest.mark.parametrize(("year_end_per_day", "found"), [(15, True), (4, False)])
def test_year_end_surge(year_end_per_day: int, found: bool):
    rng = random.Random(4)
    now = at(date(2027, 1, 5), hm(9))
    ev = Events()
    for d in days(date(2026, 9, 15), 110, weekdays_only=True):
        n = year_end_per_day if d >= date(2026, 12, 22) else 3
        for i in range(n):
            ev.add(at(d, hm(10) + rng.uniform(0, 6 * 3600)), EventType.form_submit, ACCOUNTS[i])
    out = dc.detect(make_input(ev.items, now), dc.Settings())
    ye = [f for f in out if f.evidence["signal"] == "year_end"]
    assert len(ye) == int(found)
    if found:
        assert ye[0].evidence["period"] == "2026"
        assert ye[0].reasons[0].value > 3.0


def test_empty_window_and_other_types_give_nothing():
    assert dc.detect(make_input([], NOW), dc.Settings()) == []
    rng = random.Random(5)
    ev = Events()
    for d in _working_days(28):
        for i in range(30):
            ev.add(at(d, hm(16) + rng.uniform(0, 3599)), EventType.checkin, ACCOUNTS[i % 20])
    assert dc.detect(make_input(ev.items, NOW), dc.Settings()) == []
    # ... unless check-ins are configured as submissions
    s = dc.Settings(event_types=("checkin",))
    assert [f.evidence["signal"] for f in dc.detect(make_input(ev.items, NOW), s)] == [
        "daily_deadline"
    ]


def test_deterministic_and_stable_ids():
    rng = random.Random(6)
    ev = Events()
    for d in _working_days(28):
        _submissions(ev, d, 40, rng, rush=0.8)
    a = dc.detect(make_input(ev.items, NOW), dc.Settings())
    b = dc.detect(make_input(list(reversed(ev.items)), NOW), dc.Settings())
    assert a and encoded(a) == encoded(b)
    # a later poll the same week keeps the finding id
    later = dc.detect(make_input(ev.items, NOW + 3600), dc.Settings())
    assert [f.id for f in later] == [f.id for f in a]


def test_settings_are_strict():
    with pytest.raises(ValidationError):
        dc.Settings(deadline_hr=17)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown event types"):
        dc.Settings(event_types=("submit",))
    with pytest.raises(ValidationError, match="after workday_start_hour"):
        dc.Settings(deadline_hour=9, workday_start_hour=9)


def test_day_arithmetic_is_the_calendars() -> None:
    """The distinct days and days of the month taken as arrays are those of a sort and of
    the calendar, leap days and month ends included."""
    rng = np.random.default_rng(5)
    feb29 = dc.date_to_day(date(2028, 2, 29))
    days = np.concatenate([rng.integers(feb29 - 400, feb29 + 400, 300), [feb29, feb29 + 1]])
    assert dc._distinct_days(days).tolist() == np.unique(days).tolist()
    assert dc._distinct_days(np.zeros(0, dtype=np.int64)).size == 0
    assert dc._day_of_month(days).tolist() == [dc.day_to_date(d).day for d in days.tolist()]


@pytest.mark.parametrize(
    "settings",
    [dc.Settings(), dc.Settings(min_judged_months=1), dc.Settings(min_judged_days=30),
     dc.Settings(year_end_baseline_days=14)],
)
def test_a_batch_of_apps_gives_each_app_its_own_findings(settings: dc.Settings) -> None:
    """detect_batch (the daily tests for every app at once, the month-end and year-end
    ones from the first day with data) = detect app by app, in app order, byte for byte:
    apps of every signal, two judged at another instant, one without submissions."""
    from tapwatch.detectors.base import AppProfile
    from tapwatch.detectors.derived import one_pass

    rng = random.Random(7)
    rush, even, short, checkins = Events(), Events(), Events(), Events()
    for d in _working_days(28):
        _submissions(rush, d, 60, rng, rush=0.75)
    for d in _working_days(120):
        _submissions(even, d, 30, rng, rush=1 / 8)
    for d in _working_days(9):
        _submissions(short, d, 20, rng, rush=0.8)
        checkins.add(at(d, hm(8)), EventType.checkin, ACCOUNTS[0])
    month = Events()
    for d in days(NOW_DAY - timedelta(days=119), 119, weekdays_only=True):
        for i in range(12 if (d + timedelta(days=3)).month != d.month else 2):
            month.add(at(d, hm(10) + i), EventType.form_submit, ACCOUNTS[i])
    year_end = [Events(), Events()]
    for d in days(date(2026, 9, 15), 110, weekdays_only=True):
        for k, surge in enumerate((15, 4)):
            for i in range(surge if d >= date(2026, 12, 22) else 3):
                year_end[k].add(at(d, hm(10) + 60 * i), EventType.form_submit, ACCOUNTS[i])
    logs = [(rush, NOW), (even, NOW), (short, NOW), (checkins, NOW), (Events(), NOW),
            (month, NOW), *((ev, at(date(2027, 1, 5), hm(9))) for ev in year_end)]
    inputs = [
        make_input(ev.items, now, profile=AppProfile(id=f"app-{k}", timezone=TZ))
        for k, (ev, now) in enumerate(logs)
    ]
    alone = [f for inp in inputs for f in dc.detect(inp, settings)]
    with one_pass(inputs):
        together = dc.detect_batch(inputs, settings)
    assert encoded(together) == encoded(alone)
    if settings == dc.Settings():
        assert {(f.app, f.evidence["signal"]) for f in together} >= {
            ("app-0", "daily_deadline"), ("app-5", "month_end"), ("app-6", "year_end")
        }
