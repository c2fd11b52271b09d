"""consolidation: apps of one region serving the same people for the same job ("one
table"), one finding per group, after the shutdown assessment."""

from __future__ import annotations

import random
from datetime import date, timedelta

from tapwatch.detectors import consolidation
from tapwatch.detectors.base import AppProfile, DetectorInput
from tapwatch.detectors.engine import run_fleet
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import TZ, Events, at, days, encoded, hm, make_input

NOW_DAY = date(2026, 11, 27)
NOW = at(NOW_DAY, hm(20))
PERIOD = days(NOW_DAY - timedelta(days=59), 60, weekdays_only=True)


def app_input(
    app: str, users: list[str], p: float, *, category: str, features: frozenset[str],
    cost: float, region: str = "District A", exempt: bool = False, seed: int = 0,
) -> DetectorInput:
    """Each user files a form on a share `p` of workdays."""
    rng = random.Random(f"{app}-{seed}")
    ev = Events(app)
    for d in PERIOD:
        for who in users:
            if rng.random() < p:
                ev.add(at(d, hm(9) + rng.uniform(0, 7 * 3600)), EventType.form_submit, who,
                       target="activity-report", content_hash=f"{app}-{who}-{d}")
    profile = AppProfile(
        id=app, timezone=TZ, region=region, category=category, declared_features=features,
        annual_cost_cny=cost, intended_users=len(users) + 10, exempt=exempt,
        launched=date(2023, 1, 1),
    )
    return make_input(ev.items, NOW, profile=profile)


FORMS = frozenset({"forms", "notices"})
CLERKS = [f"clerk{i:02d}" for i in range(40)]


def culture_fleet() -> list[DetectorInput]:
    """Three departments' culture-event reporting apps, filled in by the same 40 township
    clerks (the county's own staff use the first too); a meeting-room app the same clerks
    use for another job; a fourth reporting app in another district."""
    return [
        app_input("county-culture", CLERKS + [f"staff{i}" for i in range(60)], 0.4,
                  category="culture-events", features=FORMS, cost=300_000.0),
        app_input("tourism-events", CLERKS[:30], 0.2, category="culture-events",
                  features=FORMS, cost=210_000.0),
        app_input("township-approvals", CLERKS[5:], 0.15, category="culture-events",
                  features=frozenset({"forms"}), cost=90_000.0),
        app_input("room-booking", CLERKS, 0.3, category="meetings",
                  features=frozenset({"appointment"}), cost=50_000.0),
        app_input("other-district-culture", CLERKS, 0.3, category="culture-events",
                  features=FORMS, cost=150_000.0, region="District B"),
    ]


def test_apps_serving_the_same_clerks_for_one_job_are_one_group_to_consolidate():
    res = run_fleet(culture_fleet())
    [f] = [f for f in res.findings if f.kind == "consolidation"]
    group = ["county-culture", "tourism-events", "township-approvals"]
    assert f.app == "county-culture"  # the most real use: keep it
    assert f.apps == group
    ev = f.evidence
    assert ev["keep"] == "county-culture" and ev["merge"] == group[1:]
    assert ev["region"] == "District A"
    assert ev["combined_annual_cost_cny"] == 600_000.0
    assert ev["saving_cny"] == 300_000.0
    assert ev["accounts_in_all"] == 25 and ev["accounts_in_any"] == 100
    pairs = {tuple(p["apps"]): p for p in ev["pairs"]}
    assert set(pairs) == {
        ("county-culture", "tourism-events"),
        ("county-culture", "township-approvals"),
        ("tourism-events", "township-approvals"),
    }
    p = pairs[("county-culture", "tourism-events")]
    assert p["shared_accounts"] == 30 and p["user_overlap"] == 1.0
    assert p["function"] == {"same_category": 1.0}
    assert ev["use"]["county-culture"]["organic_account_days"] > ev["use"]["tourism-events"][
        "organic_account_days"
    ]
    assert f.summary.startswith(
        "county-culture, tourism-events and township-approvals in District A serve the same "
        "users"
    )
    assert "keep county-culture" in f.summary and "600,000 CNY" in f.summary
    # counted for every app of the group, filed under the one to keep
    for app in group:
        assert res.metrics[app].findings_open_by_kind["consolidation"] == 1
    assert "consolidation" not in res.metrics["room-booking"].findings_open_by_kind
    assert "consolidation" not in res.metrics["other-district-culture"].findings_open_by_kind
    encoded([f])


def test_shared_users_alone_or_one_job_alone_is_no_consolidation():
    """The room-booking app shares every clerk but not the job; an app doing the same job
    for other people shares the job but not the users; an exempt app is left out."""
    others = [f"other{i}" for i in range(40)]
    inputs = [
        app_input("reports", CLERKS, 0.3, category="reporting", features=FORMS, cost=1e5),
        app_input("rooms", CLERKS, 0.3, category="meetings",
                  features=frozenset({"appointment"}), cost=1e5),
        app_input("reports-2", others, 0.3, category="reporting", features=FORMS, cost=1e5),
        app_input("flood-duty", CLERKS, 0.3, category="reporting", features=FORMS, cost=1e5,
                  exempt=True),
    ]
    assert consolidation.detect_assessed(
        inputs, lambda _a: consolidation.Settings(), run_fleet(inputs).assessments
    ) == []

