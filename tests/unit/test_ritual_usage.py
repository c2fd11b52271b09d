from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from tapwatch.detectors import ritual_usage as ru
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import Events, at, days, encoded, hm, make_input

NOW_DAY = date(2026, 11, 27)
NOW = at(NOW_DAY, hm(20))
PERIOD = days(NOW_DAY - timedelta(days=35), 35)


def _session(
    ev: Events, acct: str, t0: float, length: float, inner: list[EventType], with_duration: bool
) -> None:
    ev.add(t0, EventType.session_start, acct)
    for i, typ in enumerate(inner):
        ev.add(t0 + (i + 1) * length / (len(inner) + 1), typ, acct)
    extra = {"duration_s": length} if with_duration else {}
    ev.add(t0 + length, EventType.session_end, acct, **extra)


def _ritual_app(rng: random.Random) -> Events:
    """30 officials open the app every day, check in, and close it within seconds."""
    ev = Events()
    for d in PERIOD:
        for i in range(30):
            t0 = at(d, hm(8) + rng.uniform(0, 3 * 3600))
            _session(ev, f"r{i:02d}", t0, rng.uniform(3, 8), [EventType.checkin], i % 2 == 0)
    return ev


def _working_app(rng: random.Random) -> Events:
    """60 staff use it on about a third of days, for minutes, to file forms; a few only
    read news on some days."""
    ev = Events()
    for d in PERIOD:
        for i in range(60):
            if rng.random() > 0.35:
                continue
            t0 = at(d, hm(9) + rng.uniform(0, 7 * 3600))
            if i % 5 == 0:
                inner = [EventType.read, EventType.read]
            else:
                inner = [EventType.read, EventType.form_submit, EventType.action]
            _session(ev, f"w{i:02d}", t0, rng.uniform(60, 1200), inner, True)
    return ev


def _news_app(rng: random.Random) -> Events:
    """Voluntary readers: only reads, a few times a month each, for a minute or more."""
    ev = Events()
    for d in PERIOD:
        for i in range(200):
            if rng.random() > 0.08:
                continue
            t0 = at(d, hm(7) + rng.uniform(0, 14 * 3600))
            _session(ev, f"n{i:03d}", t0, rng.uniform(40, 600), [EventType.read], True)
    return ev


def test_daily_checkin_ritual_is_found():
    ev = _ritual_app(random.Random(1))
    out = ru.detect(make_input(ev.items, NOW), ru.Settings())
    assert len(out) == 1
    f = out[0]
    codes = [r.code for r in f.reasons]
    assert codes == ["ritual_share", "low_depth", "everyone_every_day", "empty_short_sessions"]
    assert f.evidence["ritual_share"] == 1.0
    assert f.evidence["stickiness"] == 1.0
    assert f.evidence["depth"] == 0.0
    # every raw-window session (paired or with duration_s) is short and empty
    assert f.evidence["empty_short_session_share"] == 1.0
    hist = f.evidence["session_length_histogram"]
    # the raw window (7 days back from 20:00) holds the sessions of 21-26 November
    assert sum(hist["counts"]) == 30 * 6 and sum(hist["counts"][:2]) == 30 * 6
    assert f.evidence["accounts_total"] == 30
    assert f.evidence["accounts"] == sorted(f.evidence["accounts"])
    assert len(f.evidence["daily_ritual_share"]) == 28
    assert f.evidence["event_ids_total"] == 30 * 6  # the check-ins
    assert f.severity == "critical" and f.score == 1.0
    assert f.confidence == 1.0


def test_working_app_stays_silent():
    assert ru.detect(make_input(_working_app(random.Random(2)).items, NOW), ru.Settings()) == []


def test_voluntary_news_reading_is_not_ritual():
    inp = make_input(_news_app(random.Random(3)).items, NOW)
    # everyone only reads, yet nobody is made to show up every day or flick it open
    assert ru.detect(inp, ru.Settings()) == []


def test_short_sessions_alone_make_it_ritual_when_not_daily():
    """Officials told to open it a few times a week still flick it open and shut."""
    rng = random.Random(4)
    ev = Events()
    for d in PERIOD:
        for i in range(40):
            if rng.random() < 0.4:
                _session(
                    ev,
                    f"a{i:02d}",
                    at(d, hm(9) + rng.uniform(0, 3600)),
                    4.0,
                    [EventType.like],
                    True,
                )
    out = ru.detect(make_input(ev.items, NOW), ru.Settings())
    assert [r.code for r in out[0].reasons] == ["ritual_share", "low_depth", "empty_short_sessions"]


def test_empty_window_gives_nothing():
    assert ru.detect(make_input([], NOW), ru.Settings()) == []


def test_deterministic():
    ev = _ritual_app(random.Random(5))
    a = ru.detect(make_input(ev.items, NOW), ru.Settings())
    b = ru.detect(make_input(list(reversed(ev.items)), NOW), ru.Settings())
    assert a and encoded(a) == encoded(b)
    assert ru.detect(make_input(ev.items, NOW + 600), ru.Settings())[0].id == a[0].id


def test_settings_are_strict():
    with pytest.raises(ValidationError):
        ru.Settings(short_session_s=0)
    with pytest.raises(ValidationError):
        ru.Settings(nonsense=1)  # type: ignore[call-arg]


def _appointments_app(rng: random.Random, rote_staff: int) -> Events:
    """A township appointment app over five weeks. `rote_staff` officials book the same
    leader every workday at about the same minute (to keep the app "active"); 80 others
    book one of three leaders or one of six rooms now and then, for real meetings."""
    ev = Events()
    targets = [f"leader-{k}" for k in range(3)] + [f"room-{k}" for k in range(6)]
    for d in PERIOD:
        if d.weekday() >= 5:
            continue
        for i in range(rote_staff):
            if rng.random() < 0.9:
                t = at(d, hm(8, 20 + i) + rng.uniform(0, 20))
                ev.add(t, EventType.session_start, f"s{i:02d}")
                ev.add(t + 20, EventType.appointment, f"s{i:02d}", target=f"leader-{i % 3}")
        for i in range(80):
            if rng.random() < 0.06:
                ev.add(at(d, hm(9) + rng.uniform(0, 8 * 3600)), EventType.appointment,
                       f"o{i:02d}", target=rng.choice(targets))
    return ev


def test_rote_appointments_with_the_same_person_every_day_are_ritual():
    """The background's township app: appointments are meaningful events, so the daily
    ritual share misses them; the same account booking the same person day after day
    does not."""
    ev = _appointments_app(random.Random(3), rote_staff=20)
    [f] = ru.detect(make_input(ev.items, NOW), ru.Settings())
    assert [r.code for r in f.reasons] == ["rote_appointments"]
    rote = f.evidence["rote_appointments"]
    assert rote["accounts"] >= 18 and rote["share"] > 0.7
    assert set(f.evidence["accounts"]) <= {f"s{i:02d}" for i in range(20)}
    assert f.evidence["ritual_share"] < 0.6  # the empty-ritual path alone stays silent
    assert "with the same person day after day" in f.summary
    encoded([f])


def test_genuine_bookings_are_not_rote():
    ev = _appointments_app(random.Random(4), rote_staff=0)
    assert sum(e.type == EventType.appointment for e in ev.items) > 100
    assert ru.detect(make_input(ev.items, NOW), ru.Settings()) == []


def _fleet() -> list:
    """Apps of every shape, one in another time zone (its local days differ): ritual,
    working, news, rote and genuine appointments, short sessions, empty."""
    from zoneinfo import ZoneInfo

    from tapwatch.detectors.base import AppProfile

    shapes = [
        _ritual_app(random.Random(1)),
        _working_app(random.Random(2)),
        _news_app(random.Random(3)),
        _appointments_app(random.Random(3), rote_staff=20),
        _appointments_app(random.Random(4), rote_staff=0),
        _ritual_app(random.Random(6)),
        Events(),
    ]
    zones = ["Asia/Shanghai"] * len(shapes)
    zones[5] = "America/New_York"
    return [
        make_input(ev.items, NOW, profile=AppProfile(id=f"app-{k}", timezone=ZoneInfo(z)))
        for k, (ev, z) in enumerate(zip(shapes, zones, strict=True))
    ]


@pytest.mark.parametrize(
    "settings", [ru.Settings(), ru.Settings(min_judged_days=30, rote_min_days=2)]
)
def test_a_batch_of_apps_gives_each_app_its_own_findings(settings: ru.Settings) -> None:
    """detect_batch over a fleet (its figures stacked) = detect app by app, in app order,
    byte for byte: no app's rows, accounts or targets leak into another's."""
    from tapwatch.detectors.derived import one_pass

    inputs = _fleet()
    alone = [f for inp in inputs for f in ru.detect(inp, settings)]
    assert alone or settings.min_judged_days == 30
    with one_pass(inputs):
        together = ru.detect_batch(inputs, settings)
    assert encoded(together) == encoded(alone)
    assert encoded(ru.detect_batch(inputs[::-1], settings)) == encoded(
        [f for inp in inputs[::-1] for f in ru.detect(inp, settings)]
    )
    if settings == ru.Settings():
        assert {f.app for f in together} == {"app-0", "app-3", "app-5"}
