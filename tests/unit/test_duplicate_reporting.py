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


def test_reports_filed_on_two_apps_are_one_finding_per_pair_of_apps() -> None:
    findings = detect(cultural_event_fleet())
    by_pair = {tuple(sorted(f.apps)): f for f in findings}
    assert sorted(by_pair) == [
        ("culture", "propaganda"), ("culture", "tourism"), ("propaganda", "tourism")
    ]
    cp = by_pair[("culture", "propaganda")]
    assert cp.kind == "duplicate_reporting"
    # filed under the app that received the reports second (culture asked for them again)
    assert cp.app == "culture" and cp.apps == ["culture", "propaganda"]
    assert cp.evidence["week"] == "2026-W47"
    assert cp.evidence["reports"] == 2
    assert cp.evidence["units"] == [
        {"unit": "T1", "reports": 2, "forms": [], "content_hashes": ["ev-1", "ev-2"]}
    ]
    assert cp.evidence["event_ids"] == ["culture-0", "culture-1"]
    assert [o["event_id"] for o in cp.evidence["other_submissions"]] == [
        "propaganda-0", "propaganda-1"  # not T2's filing, made once
    ]
    assert cp.evidence["accounts"] == ["a1", "a2"]
    assert [r.code for r in cp.reasons] == ["same_report_two_apps", "apps_per_report"]
    assert cp.reasons[0].value == 2 and cp.reasons[1].value == 3  # ev-1 reached 3 apps
    assert cp.severity == "warning"
    assert cp.summary.startswith(
        "culture and propaganda both received the same 2 report(s) from 1 unit(s) in week "
        "2026-W47; T1 filed 2 of them twice"
    )
    assert by_pair[("culture", "tourism")].app == "tourism"
    assert by_pair[("culture", "tourism")].evidence["content_hashes"] == ["ev-1"]


def test_a_week_of_re_reporting_is_one_finding_with_the_count_and_the_forms() -> None:
    """Ten units each file three activity reports to the culture app and again to the
    tourism app the next day: 30 re-reports, one finding (not 30, not 10)."""
    culture, tourism = [], []
    for u in range(10):
        for k in range(3):
            h = f"u{u}-r{k}"
            culture.append(filing("culture", len(culture), at(16 + k), f"T{u}", h, f"c{u}"))
            tourism.append(filing("tourism", len(tourism), at(17 + k), f"T{u}", h, f"c{u}"))
    for e in culture + tourism:
        e.target = "activity-report" if e.content_hash.endswith(("r0", "r1")) else "event-photos"
    [f] = detect([make_input("culture", culture), make_input("tourism", tourism)])
    assert f.app == "tourism" and f.apps == ["tourism", "culture"]
    assert f.evidence["reports"] == 30 and f.score == 1.0
    assert f.evidence["forms"] == ["activity-report", "event-photos"]
    assert [u["reports"] for u in f.evidence["units"]] == [3] * 10
    assert f.evidence["units"][0]["forms"] == ["activity-report", "event-photos"]
    assert len(f.evidence["event_ids"]) == 30
    assert "(forms: activity-report, event-photos)" in f.summary


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
    [wide] = detect(fleet, dup.Settings(window_days=20))
    assert wide.apps == ["a", "d"]  # a received it second


def test_other_event_types_never_count() -> None:
    read = Event(
        app="b", id="b-0", ts=at(16), type=EventType.read, account="x", unit="U1", content_hash="h"
    )
    fleet = [make_input("a", [filing("a", 0, at(16), "U1", "h", "x")]), make_input("b", [read])]
    assert detect(fleet) == []


def test_id_is_stable_while_the_week_fills_up() -> None:
    fleet = cultural_event_fleet()
    first = {tuple(f.apps): f.id for f in detect(fleet)}
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
    assert {tuple(f.apps): f.id for f in again} == first
    assert len(first) == 3
    assert next(f for f in again if f.app == "culture").evidence["content_hashes"] == [
        "ev-1",
        "ev-2",
        "ev-3",
    ]


def test_four_platforms_is_critical_and_score_grows_with_filings() -> None:
    apps = ["county-propaganda", "culture-tourism", "township", "volunteer"]
    fleet = [make_input(a, [filing(a, 0, at(16), "T1", "ev", "u")]) for a in apps]
    findings = detect(fleet)
    assert len(findings) == 6  # every pair of the four
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
