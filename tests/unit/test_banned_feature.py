"""banned_feature: check-in, points ranking and online-duration features (2026 measures)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from tapwatch.detectors import banned_feature as banned
from tapwatch.detectors.base import AppProfile, DetectorInput, UsageSnapshot
from tapwatch.events import Event, EventType
from tapwatch.window import EventWindow, account_days_from, app_hours_from, rollup_rows

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.combine(date(2026, 11, 20), time(18, 0), tzinfo=TZ).timestamp()
SETTINGS = banned.Settings()


def make_input(
    events: Sequence[Event] = (),
    declared: frozenset[str] = frozenset(),
    listed: frozenset[str] | None = None,
    exempt: bool = False,
) -> DetectorInput:
    acc, hours = rollup_rows(list(events), TZ)
    return DetectorInput(
        app=AppProfile(id="app", timezone=TZ, declared_features=declared, exempt=exempt),
        now=NOW,
        events=EventWindow.from_events("app", list(events)),
        account_days=account_days_from(acc),
        app_hours=app_hours_from(hours),
        snapshot=None if listed is None else UsageSnapshot(at=NOW, features=listed),
    )


def events(type: EventType, n: int, **fields: object) -> list[Event]:
    return [
        Event(app="app", id=f"{type.name}-{i}", ts=NOW - 3600 * (i + 1), type=type,
              account=f"acc{i % 3}", **fields)  # type: ignore[arg-type]
        for i in range(n)
    ]  # fmt: skip


def test_declared_checkin_is_found() -> None:
    [f] = banned.detect(make_input(declared=frozenset({"checkin", "forms"})), SETTINGS)
    assert f.kind == "banned_feature"
    assert f.evidence == {"feature": "checkin", "declared": ["checkin"], "seen_in": ["declared"]}
    assert f.reasons[0].code == "banned_checkin"
    assert "2026 management measures" in (f.reasons[0].rule or "")
    assert "accounts" not in f.evidence  # about the app, never a flag on accounts


def test_exempt_app_is_excepted() -> None:
    inp = make_input(
        events(EventType.checkin, 10),
        declared=frozenset({"checkin", "leaderboard"}),
        exempt=True,
    )
    assert banned.detect(inp, SETTINGS) == []


def test_checkin_events_show_the_feature_with_counts_and_examples() -> None:
    [f] = banned.detect(make_input(events(EventType.checkin, 30)), SETTINGS)
    ev = f.evidence["events"]
    assert f.evidence["seen_in"] == ["events"]
    assert ev["count"] == 30 and ev["accounts"] == 3
    assert len(ev["example_event_ids"]) == SETTINGS.example_events
    assert ev["example_event_ids"][0] == "checkin-29"  # oldest first
    assert f.reasons[0].value == 30 and f.reasons[0].threshold == SETTINGS.min_events
    # Two stray check-ins are below min_events: not called a feature.
    assert banned.detect(make_input(events(EventType.checkin, 2)), SETTINGS) == []


def test_study_app_reporting_duration_without_scoring_it_has_no_online_duration() -> None:
    """The issue's independent case: a study app whose events carry `duration_s` (how long
    each lesson played), with no ranking and no declared counter: telemetry, not a banned
    online-duration feature. Session lengths are telemetry too."""
    study = events(EventType.study, 40, duration_s=1800.0, target="course-1")
    sessions = events(EventType.session_end, 50, duration_s=600.0)
    inp = make_input(study + sessions, declared=frozenset({"study", "forms"}),
                     listed=frozenset({"study"}))
    assert banned.detect(inp, SETTINGS) == []


def test_study_time_next_to_a_points_ranking_is_scored_online_duration() -> None:
    """The "500 study hours" with county rankings: credited time in an app that ranks."""
    study = events(EventType.study, 5, duration_s=1800.0)
    inp = make_input(study, declared=frozenset({"study", "leaderboard"}))
    ranking, duration = banned.detect(inp, SETTINGS)
    assert ranking.evidence["feature"] == "points_ranking"
    assert duration.evidence["feature"] == "online_duration"
    assert duration.evidence["seen_in"] == ["scored"]
    scored = duration.evidence["scored"]
    assert scored["ranking"] == ["leaderboard"] and scored["timed_study_events"] == 5
    assert scored["credited_s"] == 5 * 1800.0
    assert duration.confidence == pytest.approx(0.9)
    off = banned.Settings(scored_study_time=False)
    assert [f.evidence["feature"] for f in banned.detect(inp, off)] == ["points_ranking"]
    untimed = make_input(events(EventType.study, 5), declared=frozenset({"leaderboard"}))
    assert [f.evidence["feature"] for f in banned.detect(untimed, SETTINGS)] == [
        "points_ranking"
    ]


def test_snapshot_listed_ranking_via_alias_has_lower_confidence() -> None:
    [f] = banned.detect(make_input(listed=frozenset({"leaderboard", "news"})), SETTINGS)
    assert f.evidence["feature"] == "points_ranking"
    assert f.evidence["snapshot"] == ["leaderboard"]
    assert f.confidence == pytest.approx(0.8)


def test_one_finding_per_feature_with_stable_ids() -> None:
    inp = make_input(
        events(EventType.checkin, 5),
        declared=frozenset({"check_in", "points", "study_hours"}),
        listed=frozenset({"checkin"}),
    )
    findings = banned.detect(inp, SETTINGS)
    assert [f.evidence["feature"] for f in findings] == list(banned.FEATURES)
    checkin = findings[0]
    assert checkin.evidence["seen_in"] == ["declared", "snapshot", "events"]
    assert len({f.id for f in findings}) == 3
    assert [f.id for f in banned.detect(inp, SETTINGS)] == [f.id for f in findings]


def test_settings_reject_unknown_feature_alias() -> None:
    with pytest.raises(ValidationError) as e:
        banned.Settings(aliases={"selfies": ("selfie",)})
    err = e.value.errors()[0]
    assert err["loc"] == ("aliases",)
    assert "unknown banned feature(s) ['selfies']" in err["msg"]
    assert all(f.description for f in banned.Settings.model_fields.values())
