"""duplicate_reporting: the same content from the same unit filed on several apps."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from tapwatch.detectors import duplicate_reporting as dup
from tapwatch.detectors.base import AppProfile, DetectorInput
from tapwatch.events import Event, EventType
from tapwatch.window import DAY, EventWindow, account_days_from, app_hours_from, rollup_rows

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.combine(date(2026, 11, 20), time(18, 0), tzinfo=TZ).timestamp()  # a Friday
SETTINGS = dup.Settings()


def at(day: int, hour: int = 10) -> float:
    """Local time on November `day`, 2026."""
    return datetime.combine(date(2026, 11, day), time(hour), tzinfo=TZ).timestamp()


def filing(app: str, n: int, ts: float, unit: str | None, content: str | None, acc: str) -> Event:
    return Event(
        app=app,
        id=f"{app}-{n}",
        ts=ts,
        type=EventType.form_submit,
        account=acc,
        unit=unit,
        content_hash=content,
    )


def make_input(app: str, events: list[Event], now: float = NOW) -> DetectorInput:
    acc, hours = rollup_rows(events, TZ)
    return DetectorInput(
        app=AppProfile(id=app, timezone=TZ),
        now=now,
        events=EventWindow.from_events(app, events),
        account_days=account_days_from(acc),
        app_hours=app_hours_from(hours),
    )


def detect(inputs: list[DetectorInput], settings: dup.Settings = SETTINGS) -> list:
    return dup.detect_fleet(inputs, lambda _app: settings)


def cultural_event_fleet(now: float = NOW) -> list[DetectorInput]:
    """One township (unit T1) files the same cultural-event report (hash ev-1) to the
    propaganda, culture and tourism apps within three days, and a second report (ev-2) to
    two of them. Unit T2 files ev-1 content once, to one app."""
    return [
        make_input(
            "propaganda",
            [
                filing("propaganda", 0, at(16), "T1", "ev-1", "a1"),
                filing("propaganda", 1, at(17), "T1", "ev-2", "a1"),
                filing("propaganda", 2, at(17), "T2", "ev-1", "b1"),
            ],
            now,
        ),
        make_input(
            "culture",
            [
                filing("culture", 0, at(17), "T1", "ev-1", "a2"),
                filing("culture", 1, at(18), "T1", "ev-2", "a2"),
            ],
            now,
        ),
        make_input("tourism", [filing("tourism", 0, at(18), "T1", "ev-1", "a1")], now),
        make_input("other", [filing("other", 0, at(18), "T3", "misc", "c1")], now),
    ]


def test_same_content_same_unit_on_several_apps_is_found_per_app() -> None:
    findings = detect(cultural_event_fleet())
    by_app = {f.app: f for f in findings}
    assert sorted(by_app) == ["culture", "propaganda", "tourism"]
    p = by_app["propaganda"]
    assert p.kind == "duplicate_reporting"
    assert p.evidence["unit"] == "T1"
    assert p.evidence["week"] == "2026-W47"
    assert p.evidence["content_hashes"] == ["ev-1", "ev-2"]
    assert p.evidence["apps"] == ["culture", "propaganda", "tourism"]
    assert p.evidence["event_ids"] == ["propaganda-0", "propaganda-1"]  # not T2's filing
    assert p.evidence["accounts"] == ["a1"]
    assert {(o["app"], o["event_id"]) for o in p.evidence["other_submissions"]} == {
        ("culture", "culture-0"),
        ("culture", "culture-1"),
        ("tourism", "tourism-0"),
    }
    assert p.reasons[0].value == 3 and p.reasons[0].threshold == 2
    assert p.severity == "warning"
    assert by_app["tourism"].evidence["content_hashes"] == ["ev-1"]
    assert "unit T1" in p.summary and "2 other app(s)" in p.summary


def test_silent_when_units_differ_or_content_differs_or_too_far_apart() -> None:
    fleet = [
        make_input("a", [filing("a", 0, at(16), "U1", "h", "x")]),
        make_input("b", [filing("b", 0, at(16), "U2", "h", "y")]),  # other unit
        make_input("c", [filing("c", 0, at(16), "U1", "other", "x")]),  # other content
        make_input("d", [filing("d", 0, at(1), "U1", "h", "x")]),  # 15 days earlier
        make_input("e", [filing("e", 0, at(16), None, "h", "x")]),  # no unit recorded
    ]
    assert detect(fleet) == []
    # A wider window makes the filing of the 1st a duplicate of the 16th.
    wide = detect(fleet, dup.Settings(window_days=20))
    assert sorted(f.app for f in wide) == ["a", "d"]


def test_other_event_types_never_count() -> None:
    read = Event(
        app="b", id="b-0", ts=at(16), type=EventType.read, account="x", unit="U1", content_hash="h"
    )
    fleet = [make_input("a", [filing("a", 0, at(16), "U1", "h", "x")]), make_input("b", [read])]
    assert detect(fleet) == []


def test_id_is_stable_while_the_week_fills_up() -> None:
    fleet = cultural_event_fleet()
    first = {f.app: f.id for f in detect(fleet)}
    fleet[0] = make_input(
        "propaganda",
        [
            filing("propaganda", 0, at(16), "T1", "ev-1", "a1"),
            filing("propaganda", 1, at(17), "T1", "ev-2", "a1"),
            filing("propaganda", 3, at(19), "T1", "ev-3", "a1"),
        ],
    )
    fleet[1] = make_input(
        "culture",
        [
            filing("culture", 0, at(17), "T1", "ev-1", "a2"),
            filing("culture", 1, at(18), "T1", "ev-2", "a2"),
            filing("culture", 2, at(19), "T1", "ev-3", "a2"),
        ],
    )
    again = detect(fleet)
    assert {f.app: f.id for f in again} == first
    assert next(f for f in again if f.app == "propaganda").evidence["content_hashes"] == [
        "ev-1",
        "ev-2",
        "ev-3",
    ]


def test_four_platforms_is_critical_and_score_grows_with_filings() -> None:
    apps = ["county-propaganda", "culture-tourism", "township", "volunteer"]
    fleet = [make_input(a, [filing(a, 0, at(16), "T1", "ev", "u")]) for a in apps]
    findings = detect(fleet)
    assert len(findings) == 4
    assert all(f.severity == "critical" for f in findings)
    assert all(f.score == pytest.approx(1 / SETTINGS.full_score_duplicates) for f in findings)


def test_extra_filings_are_counted_on_the_app_they_were_filed_on() -> None:
    extra = dup.app_duplicate_filings(cultural_event_fleet(), lambda _app: SETTINGS)
    # T1's ev-1 went to propaganda (16th, needed), culture (17th) and tourism (18th);
    # ev-2 to propaganda (17th, needed) and culture (18th). T2 and T3 filed once each.
    assert extra == {"culture": 2, "other": 0, "propaganda": 0, "tourism": 1}
    assert dup.app_duplicate_filings([], lambda _app: SETTINGS) == {}


def test_settings() -> None:
    assert SETTINGS.window_days == 7 and SETTINGS.min_apps == 2
    with pytest.raises(ValidationError) as e:
        dup.Settings(min_apps=1)
    assert e.value.errors()[0]["loc"] == ("min_apps",)
    assert all(f.description for f in dup.Settings.model_fields.values())


def test_extra_filings_count_only_inside_the_lookback() -> None:
    """Four days later the lookback starts on the 17th at 18:00: only the filings of the
    18th are inside, and both are extra (the first filings were earlier)."""
    later = cultural_event_fleet(now=NOW + 4 * DAY)
    extra = dup.app_duplicate_filings(later, lambda _app: SETTINGS)
    assert extra == {"culture": 1, "other": 0, "propaganda": 0, "tourism": 1}
