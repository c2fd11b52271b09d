"""Shutdown score: bands, reasons and the score breakdown on synthetic fleets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from bench.assessment_cases import Case, build_input, cases, run_case
from pydantic import ValidationError

from tapwatch.detectors.assessment import (
    SIGNALS,
    Assessment,
    Settings,
    assess_fleet,
    assessment_finding,
)
from tapwatch.detectors.base import AppProfile, DetectorInput, UsageSnapshot
from tapwatch.events import Event, EventType
from tapwatch.window import DAY, EventWindow, account_days_from, app_hours_from, rollup_rows

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 20)
NOW = datetime.combine(TODAY, time(15, 0), tzinfo=TZ).timestamp()


def at(d: date, hour: int = 10, minute: int = 0) -> float:
    return datetime.combine(d, time(hour, minute), tzinfo=TZ).timestamp()


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


class Log:
    """Events of one app with unique, deterministic ids."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.items: list[Event] = []

    def add(self, ts: float, type: EventType, account: str, **fields: object) -> None:
        self.items.append(
            Event(
                app=self.app,
                id=f"{self.app}-{len(self.items)}",
                ts=ts,
                type=type,
                account=account,
                **fields,  # type: ignore[arg-type]
            )
        )

    def daily(
        self,
        accounts: Iterable[str],
        days: Iterable[int],
        type: EventType = EventType.form_submit,
        every: int = 1,
    ) -> None:
        """One event of `type` per account on each `days` ago (every `every`-th day)."""
        accounts = list(accounts)
        for back in days:
            if back % every:
                continue
            for i, a in enumerate(accounts):
                self.add(at(ago(back), 9, i % 60), type, a)


def profile(app: str, **kw: object) -> AppProfile:
    base: dict[str, object] = {
        "launched": date(2024, 1, 1),
        "intended_users": 200,
        "timezone": TZ,
        "region": f"region-{app}",
        "category": "general",
    }
    base.update(kw)
    return AppProfile(id=app, **base)  # type: ignore[arg-type]


def make_input(
    prof: AppProfile,
    events: list[Event],
    snapshot: UsageSnapshot | None = None,
    now: float = NOW,
    data_since: float | None = None,
) -> DetectorInput:
    """As the daemon builds it: raw window of 7 days, rollups over the given events."""
    evs = [e for e in events if e.ts <= now]
    acc, hours = rollup_rows(evs, prof.timezone)
    return DetectorInput(
        app=prof,
        now=now,
        events=EventWindow.from_events(prof.id, [e for e in evs if e.ts > now - 7 * DAY]),
        account_days=account_days_from(acc),
        app_hours=app_hours_from(hours),
        snapshot=snapshot,
        data_since=data_since,
    )


def released(days_ago: float, **kw: object) -> UsageSnapshot:
    return UsageSnapshot(at=NOW, last_release_at=NOW - days_ago * DAY, **kw)  # type: ignore[arg-type]


def healthy(app: str, n_accounts: int = 150, cost: float | None = 200_000.0) -> DetectorInput:
    """Many accounts doing real work on most days, recently released."""
    log = Log(app)
    log.daily((f"{app}-u{i}" for i in range(n_accounts)), range(120), every=2)
    return make_input(
        profile(app, intended_users=n_accounts + 20, annual_cost_cny=cost),
        log.items,
        released(10),
    )


def empty_shell(app: str = "shell", **kw: object) -> DetectorInput:
    """500 intended users; three accounts filed something ~50-100 days ago; 40 accounts
    check in and read every day (forced rituals, never meaningful); last release 150 days
    ago; an appointment feature nobody uses."""
    log = Log(app)
    log.daily(["s-a", "s-b", "s-c"], [52, 75, 100])
    log.daily((f"s-r{i}" for i in range(40)), range(120), EventType.checkin)
    log.daily((f"s-r{i}" for i in range(40)), range(120), EventType.read)
    prof = profile(
        app,
        intended_users=500,
        annual_cost_cny=800_000.0,
        declared_features=frozenset({"forms", "appointment", "articles", "checkin"}),
        **kw,
    )
    return make_input(prof, log.items, released(150))


def run(
    inputs: list[DetectorInput],
    excluded: dict[str, set[str]] | None = None,
    settings: Settings | None = None,
) -> dict[str, Assessment]:
    s = settings or Settings()
    ex = excluded or {}
    return assess_fleet(inputs, lambda _app: s, lambda app, _n: ex.get(app, set()))


def codes(a: Assessment) -> list[str]:
    return [r.code for r in a.reasons]


def test_empty_shell_is_a_candidate_with_readable_reasons() -> None:
    fleet = [empty_shell(), healthy("h1"), healthy("h2", 100, 150_000.0), healthy("h3", 80)]
    a = run(fleet)["shell"]
    assert a.band == "candidate"
    assert a.score >= 70
    assert {"low_reach", "dormant", "declining", "unmaintained", "high_cost"} <= set(codes(a))
    # The sufficient conditions met come first, then the signals strongest first, each a
    # sentence with its measured value and threshold.
    assert [c.code for c in a.conditions] == ["shell", "abandoned", "unreached"]
    assert codes(a)[:4] == ["shell", "abandoned", "unreached", "low_reach"]
    reach = next(r for r in a.reasons if r.code == "low_reach")
    assert "0 organic active accounts in 30 days reach 0.0% of 500" in reach.text
    dormant = next(r for r in a.reasons if r.code == "dormant")
    assert dormant.value == 52 and dormant.threshold == 14
    assert "52 days" in dormant.text
    unused = a.signals["unused_features"]
    assert unused.value == pytest.approx(1 / 4)  # appointment unused; checkin, reads, forms used
    # The breakdown adds up: additive = earned points / measured weight; the score is the
    # larger of it and the floor of the conditions met.
    measured = sum(s.weight for s in a.signals.values() if s.value is not None)
    earned = sum(s.points for s in a.signals.values())
    assert a.additive == pytest.approx(100 * earned / measured, abs=0.05)
    assert a.score == max(a.additive, 70)
    assert set(a.signals) == set(SIGNALS)

    f = assessment_finding(a, NOW)
    assert f is not None and f.kind == "shutdown_candidate" and f.severity == "warning"
    assert f.evidence["signals"]["reach"]["points"] == 30.0
    assert f.summary.startswith("shutdown score 80/100 (candidate): organic use by 0.0% of")
    assert f.evidence["conditions"] == ["shell", "abandoned", "unreached"]
    assert f.evidence["additive_score"] == a.additive


def test_assessment_finding_id_is_stable_until_the_band_changes() -> None:
    fleet = [empty_shell(), healthy("h1"), healthy("h2", 100), healthy("h3", 80)]
    first = assessment_finding(run(fleet)["shell"], NOW)
    # A day later, one more ritual check-in: same band, same id.
    later = [empty_shell(), *fleet[1:]]
    later[0].now = NOW + DAY
    second = assessment_finding(run(later)["shell"], NOW + DAY)
    assert first is not None and second is not None
    assert first.id == second.id
    # Without the candidate conditions (unreachable settings), only the review floor of
    # `unreached` and the additive evidence remain: another band, another id.
    lenient = Settings(
        candidate_score=95, review_score=40, cost_full_ratio=1e6, decline_min_history_days=999,
        dormancy_full_days=1e4,
    )
    third = assessment_finding(run(fleet, settings=lenient)["shell"], NOW)
    assert third is not None and third.kind == "needs_review" and third.id != first.id


def test_healthy_daily_app_is_kept() -> None:
    a = run([healthy("h1")])["h1"]
    assert a.band == "keep"
    assert a.score < 10
    assert assessment_finding(a, NOW) is None
    assert a.signals["reach"].points == 0 and a.signals["dormancy"].points == 0
    assert a.confidence > 0.8


def test_small_specialist_app_with_high_reach_is_kept_despite_cost_and_age() -> None:
    """12 intended users, 10 use it twice a week: tiny absolute numbers, a costly app per
    account and no release for 100 days, but it reaches its population."""
    log = Log("spec")
    log.daily((f"sp{i}" for i in range(10)), range(120), EventType.action, every=3)
    spec = make_input(
        profile("spec", intended_users=12, annual_cost_cny=600_000.0), log.items, released(100)
    )
    fleet = [spec, healthy("h1"), healthy("h2", 100), healthy("h3", 80)]
    a = run(fleet)["spec"]
    assert a.signals["reach"].value == pytest.approx(10 / 12)
    assert a.signals["reach"].points == 0
    assert a.signals["cost"].points == 10  # 60k per account vs a ~1.3k median
    assert a.signals["maintenance"].points == 10
    assert a.band == "keep"


def seasonal_log(app: str) -> list[Event]:
    """Used by 80 of 100 intended users from July to the end of August, idle since."""
    log = Log(app)
    start = (TODAY - date(2026, 8, 31)).days  # 81 days ago
    log.daily((f"{app}-u{i}" for i in range(80)), range(start, 120))
    return log.items


def test_seasonal_app_out_of_season_is_judged_on_its_last_season() -> None:
    snap = UsageSnapshot(at=NOW, last_release_at=at(date(2026, 7, 1)))
    seasonal = make_input(
        profile("harvest", intended_users=100, season_months=frozenset({6, 7, 8})),
        seasonal_log("harvest"),
        snap,
    )
    a = run([seasonal])["harvest"]
    assert a.band == "keep"
    assert a.signals["dormancy"].value == 0  # counted to the season's end (31 August)
    assert a.signals["reach"].value == pytest.approx(0.8)
    assert "seasonal" in codes(a)
    assert datetime.fromtimestamp(a.window_end, TZ).date() == date(2026, 8, 31)

    # The same usage from an app that claims no season is idle for 81 days.
    year_round = make_input(profile("harvest2", intended_users=100), seasonal_log("h2"), snap)
    b = run([year_round])["harvest2"]
    assert b.band in ("review", "candidate")
    assert b.signals["dormancy"].value == 81


def test_seasonal_app_whose_season_is_older_than_the_data_is_insufficient() -> None:
    spring = make_input(
        profile("spring", intended_users=100, season_months=frozenset({3, 4})),
        seasonal_log("spring")[-50:],
    )
    a = run([spring])["spring"]
    assert a.band == "insufficient_data"
    assert codes(a)[0] == "season_not_covered"


def test_seasonal_app_in_season_is_judged_on_today_once_a_full_window_has_passed() -> None:
    log = Log("autumn")
    log.daily((f"au{i}" for i in range(50)), range(0, 50))  # since 1 October
    inp = make_input(
        profile("autumn", intended_users=60, season_months=frozenset({10, 11})),
        log.items,
        released(3),
    )
    a = run([inp])["autumn"]
    assert a.band == "keep" and "seasonal" not in codes(a)
    assert datetime.fromtimestamp(a.window_end, TZ).date() == TODAY

    # 20 days into a November-December season the judged season is last December's:
    # older than the data held.
    winter = make_input(
        profile("winter", intended_users=60, season_months=frozenset({11, 12})),
        log.items,
        released(3),
    )
    b = run([winter])["winter"]
    assert b.band == "insufficient_data"
    assert codes(b)[0] == "season_not_covered"
    assert datetime.fromtimestamp(b.window_end, TZ).date() == date(2025, 12, 31)


def test_snapshot_only_app_gets_a_band_with_lower_confidence() -> None:
    unused = make_input(
        profile("snap-empty", intended_users=300),
        [],
        released(200, active_accounts_1d=0, active_accounts_7d=0, active_accounts_30d=4),
    )
    used = make_input(
        profile("snap-used", intended_users=300),
        [],
        released(5, active_accounts_1d=120, active_accounts_7d=230, active_accounts_30d=260),
    )
    res = run([unused, used, healthy("h1")])
    a, b, h = res["snap-empty"], res["snap-used"], res["h1"]
    assert a.basis == "snapshot" and b.basis == "snapshot" and h.basis == "rollups"
    assert a.band in ("review", "candidate") and a.score >= 50
    assert b.band == "keep"
    assert a.confidence <= 0.5 < h.confidence
    assert codes(a)[0] == "snapshot_only"
    # Depth and decline need events: not measured, and worth no points.
    assert a.signals["depth"].value is None and a.signals["depth"].points == 0
    assert a.signals["decline"].value is None


def test_young_app_and_short_data_are_insufficient() -> None:
    young = empty_shell("young", launched=TODAY - timedelta(days=30))
    a = run([young])["young"]
    assert a.band == "insufficient_data"
    assert a.reasons[0].code == "young_app" and a.reasons[0].value == 30
    assert assessment_finding(a, NOW) is None

    log = Log("fresh")
    log.daily(["f1"], range(10))
    fresh = make_input(profile("fresh"), log.items, data_since=NOW - 10 * DAY)
    b = run([fresh])["fresh"]
    assert b.band == "insufficient_data" and b.reasons[0].code == "short_data"
    # just short of the 30 days needed: said as it is, not rounded up to 30
    almost = make_input(profile("almost"), log.items, data_since=NOW - 29.68 * DAY)
    c = run([almost])["almost"]
    assert c.reasons[0].code == "short_data"
    assert c.reasons[0].text == "29.6 days of data, fewer than the 30 needed to judge"

    nothing = make_input(profile("nothing"), [])
    assert run([nothing])["nothing"].band == "insufficient_data"


def test_exempt_app_is_never_a_candidate() -> None:
    a = run([empty_shell("alarm", exempt=True)])["alarm"]
    assert a.band == "exempt"
    assert a.score >= 70  # still scored, for the inspector, but not banded
    assert assessment_finding(a, NOW) is None


def shared_users_app(
    app: str, region: str, accounts: list[str], features: frozenset[str] = frozenset()
) -> DetectorInput:
    log = Log(app)
    log.daily(accounts, range(0, 120, 5))
    return make_input(
        profile(
            app, region=region, category="party-building", intended_users=60,
            declared_features=features,
        ),
        log.items,
        released(20),
    )


def test_redundancy_needs_same_region_category_and_the_same_job() -> None:
    users = [f"p{i}" for i in range(40)]
    a = shared_users_app("party-a", "district-1", users)
    b = shared_users_app("party-b", "district-1", users[10:])  # 75% of a's users also in b
    other_users = shared_users_app("party-c", "district-1", [f"q{i}" for i in range(40)])
    elsewhere = shared_users_app("party-d", "district-2", users)
    res = run([a, b, other_users, elsewhere])
    red = res["party-b"].signals["redundancy"]
    assert red.value == 1.0 and red.points == 10
    assert "redundant" in codes(res["party-b"])
    reason = next(r for r in res["party-b"].reasons if r.code == "redundant")
    assert "party-a (100% of its accounts)" in reason.text
    assert res["party-b"].siblings == [
        {"sibling": "party-a", "evidence": {"shared_accounts": 1.0}, "use_ratio": 0.75}
    ]
    assert res["party-a"].signals["redundancy"].points == 10
    assert res["party-a"].siblings[0]["evidence"] == {"shared_accounts": 0.75}
    # Similar use: the same job, but neither is a small sibling of the other.
    assert "redundant_sibling" not in codes(res["party-b"])
    # Same region and category but other people and nothing else alike: not the same job.
    # Other region: no sibling at all.
    assert res["party-c"].signals["redundancy"].points == 0
    assert res["party-c"].siblings == []
    assert res["party-d"].signals["redundancy"].value == 0
    # Declared features alike are enough to show the same job.
    forms = frozenset({"forms", "notices"})
    c = shared_users_app("party-e", "district-3", users, forms)
    d = shared_users_app("party-f", "district-3", [f"r{i}" for i in range(40)], forms)
    res = run([c, d])
    assert res["party-f"].siblings[0]["evidence"] == {"feature_similarity": 1.0}


def test_accounts_flagged_by_forced_usage_detectors_are_not_organic() -> None:
    log = Log("forced")
    # 30 accounts "book appointments" every day: meaningful types, but flagged.
    log.daily((f"x{i}" for i in range(30)), range(120), EventType.appointment)
    inp = make_input(profile("forced", intended_users=40), log.items, released(5))
    plain = run([inp])["forced"]
    flagged = run([inp], excluded={"forced": {f"x{i}" for i in range(30)}})["forced"]
    assert plain.signals["reach"].value == pytest.approx(30 / 40)
    assert flagged.signals["reach"].value == 0
    assert flagged.score > plain.score + 40


def test_settings_defaults_and_errors() -> None:
    s = Settings()
    assert (s.candidate_score, s.review_score, s.min_age_days, s.min_data_days) == (70, 50, 90, 30)
    assert sum(getattr(s.weights, n) for n in SIGNALS) == 100
    with pytest.raises(ValidationError) as e:
        Settings(review_score=80)
    assert e.value.errors()[0]["loc"] == ("review_score",)
    assert "below candidate_score (70.0)" in e.value.errors()[0]["msg"]
    with pytest.raises(ValidationError) as e:
        Settings(feature_event_types={"forms": ("form",)})
    assert "unknown event type(s) ['form']" in e.value.errors()[0]["msg"]
    with pytest.raises(ValidationError) as e:
        Settings(weights={"reach": 30, "popularity": 5})
    assert e.value.errors()[0]["loc"] == ("weights", "popularity")
    assert all(f.description for f in Settings.model_fields.values())


# -- calibration cases (bench/assessment_cases.py: built from the background's stories,
#    not from the simulator) -------------------------------------------------------------


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
@pytest.mark.parametrize("seed", [1, 2])
def test_calibration_case_gets_the_band_it_deserves(case: Case, seed: int) -> None:
    a = run_case(case, seed)
    assert a.band == case.expected, (case.name, a.score, [r.code for r in a.reasons])


def case_named(name: str) -> Case:
    return next(c for c in cases() if c.name == name)


def test_shell_with_very_low_reach_at_very_high_cost_is_a_candidate_by_itself() -> None:
    """Organic use by 3 % of 2,000 intended users at tens of times the fleet's median cost
    per organic user; maintained, no sibling, steady: the additive evidence alone stays
    below the candidate band, the `shell` condition does not."""
    a = run_case(case_named("check-in shell"), seed=3)
    assert a.additive < 70 <= a.score
    assert a.band == "candidate"
    assert a.conditions[0].code == "shell"
    assert a.signals["reach"].value is not None and a.signals["reach"].value <= 0.05
    assert a.signals["cost"].value is not None and a.signals["cost"].value >= 10
    assert a.signals["maintenance"].points == 0 and a.signals["redundancy"].points == 0
    assert a.reasons[0].code == "shell" and "an empty shell" in a.reasons[0].text


def test_year_long_decay_is_measured_against_the_apps_own_peak() -> None:
    """Used by 70 % of 600 users a year ago, a few now: the last 30 days against the 30
    before are both near zero, its peak is not."""
    case = case_named("year-long decay")
    a = run_case(case, seed=3)
    assert a.band == "candidate"
    assert a.signals["decline"].value is not None and a.signals["decline"].value < 0.05
    abandoned = next(c for c in a.conditions if c.code == "abandoned")
    assert "of its busiest 30 days" in abandoned.reason.text
    assert a.additive < 70
    # What the old comparison saw: the judged 30 days against the 30 before them.
    inp = build_input(case.app, np.random.default_rng(3), {})
    h = inp.usage_history()
    today = int(h.day.max())
    last = int(h.meaningful_accounts[h.day > today - 30].sum())
    before = int(h.meaningful_accounts[(h.day > today - 60) & (h.day <= today - 30)].sum())
    assert 0.5 < last / before <= 1.2


def test_redundant_sibling_is_at_least_review_and_named() -> None:
    a = run_case(case_named("redundant sibling"), seed=3)
    assert a.band == "review"
    assert a.additive < 50
    cond = a.conditions[0]
    assert cond.code == "redundant_sibling" and cond.band == "review"
    assert cond.reason.text.startswith("busy-reporting does the same job in the same region")
    sib = a.siblings[0]
    assert sib["sibling"] == "busy-reporting"
    assert sib["evidence"]["feature_similarity"] == 1.0
    assert sib["evidence"]["shared_accounts"] > 0.5
    assert sib["use_ratio"] < 0.2
    f = assessment_finding(a, NOW)
    assert f is not None and f.kind == "needs_review"
    assert f.evidence["siblings"][0]["sibling"] == "busy-reporting"
    assert "busy-reporting" in f.summary


def test_well_used_app_is_never_a_candidate_whatever_the_weights() -> None:
    """A guard rail, not only a consequence of the default weights: with reach weighing
    nothing, an unmaintained, costly app used by most of its users still stops at review."""
    log = Log("used")
    log.daily((f"w{i}" for i in range(30)), range(120), EventType.action, every=3)
    inp = make_input(
        profile("used", intended_users=40, annual_cost_cny=900_000.0,
                declared_features=frozenset({"forms", "appointment", "study"})),
        log.items, released(300),
    )
    heavy = Settings(weights={"reach": 0, "dormancy": 0, "decline": 0, "depth": 0})
    fleet = [inp, healthy("h1"), healthy("h2", 100), healthy("h3", 80)]
    a = run(fleet, settings=heavy)["used"]
    assert a.score >= 70
    assert a.band == "review"
    assert codes(a)[0] == "well_used"
