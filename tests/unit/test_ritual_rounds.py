"""ritual_rounds: the same accounts opening many official accounts' posts within minutes,
day after day (the background's "~20 official accounts clicked daily")."""

from __future__ import annotations

import random
from datetime import date, timedelta

from tapwatch.detectors import ritual_rounds as rr
from tapwatch.detectors.base import AppProfile, DetectorInput
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import TZ, Events, at, days, encoded, hm, make_input

NOW_DAY = date(2026, 11, 27)
NOW = at(NOW_DAY, hm(22))
WEEK = days(NOW_DAY - timedelta(days=6), 7)
OFFICIAL = [f"oa-{name}" for name in ("party", "tax", "legal", "finance", "health")]


def fleet(logs: dict[str, Events]) -> list[DetectorInput]:
    return [
        make_input(ev.items, NOW, profile=AppProfile(id=app, timezone=TZ))
        for app, ev in sorted(logs.items())
    ]


def detect(logs: dict[str, Events], **overrides: object) -> list:
    st = rr.Settings(**overrides)
    return rr.detect_fleet(fleet(logs), lambda _app: st)


def organic_readers(rng: random.Random, logs: dict[str, Events], n: int = 200) -> None:
    """Readers who follow one or two of the accounts and read a post when they like, at
    any hour, for a minute or more; some days not at all."""
    for i in range(n):
        follows = rng.sample(sorted(logs), rng.randint(1, 2))
        for d in WEEK:
            for app in follows:
                if rng.random() < 0.3:
                    t = at(d, hm(7) + rng.uniform(0, 15 * 3600))
                    logs[app].add(t, EventType.session_start, f"reader{i:03d}")
                    logs[app].add(t + 2, EventType.read, f"reader{i:03d}", target=f"post-{d}",
                                  duration_s=rng.uniform(60, 400))


def daily_round(rng: random.Random, logs: dict[str, Events], apps: list[str],
                officials: list[str], p: float = 0.9) -> None:
    """Each official, most workday mornings, opens each account's post of the day one after
    another, 20-90 s apart, and likes it."""
    for d in WEEK:
        if d.weekday() >= 5:
            continue
        for who in officials:
            if rng.random() >= p:
                continue
            t = at(d, hm(8) + rng.uniform(0, 2 * 3600))
            for app in rng.sample(apps, len(apps)):
                logs[app].add(t, EventType.read, who, target=f"post-{d}", duration_s=3.0)
                logs[app].add(t + 4, EventType.like, who, target=f"post-{d}")
                t += rng.uniform(20, 90)


def test_officials_clicking_every_account_each_morning_are_one_finding_for_the_group():
    rng = random.Random(1)
    logs = {app: Events(app) for app in OFFICIAL}
    organic_readers(rng, logs)
    officials = [f"official{i:02d}" for i in range(20)]
    daily_round(rng, logs, OFFICIAL, officials)
    [f] = detect(logs)
    assert f.kind == "ritual_rounds"
    assert sorted(f.apps) == sorted(OFFICIAL) and f.app == f.apps[0]
    assert f.evidence["accounts"] == officials  # sorted pseudonyms, no reader among them
    assert f.evidence["days"] == 5
    assert f.evidence["apps_per_round"] == {"5": f.evidence["rounds"]}
    assert f.evidence["round_minutes_median"] < 6
    ex = f.evidence["example_rounds"][0]
    assert ex["account"] in officials and sorted(ex["apps"]) == sorted(OFFICIAL)
    assert [r.code for r in f.reasons] == ["accounts_in_rounds", "apps_in_round"]
    assert f.reasons[0].value == 20 and f.reasons[1].value == 5
    assert "20 accounts opened" in f.summary
    assert f.id == detect(logs)[0].id
    encoded([f])


def test_readers_who_choose_what_they_read_make_no_round():
    rng = random.Random(2)
    logs = {app: Events(app) for app in OFFICIAL}
    organic_readers(rng, logs, n=400)
    assert sum(len(ev.items) for ev in logs.values()) > 2000
    assert detect(logs) == []


def test_a_round_of_work_is_not_a_ritual():
    """The same officials file a form in each app every morning: they work in them."""
    rng = random.Random(3)
    logs = {app: Events(app) for app in OFFICIAL[:3]}
    officials = [f"official{i:02d}" for i in range(20)]
    daily_round(rng, logs, OFFICIAL[:3], officials)
    for ev in logs.values():
        for e in list(ev.items):
            if e.type == EventType.like:
                ev.add(e.ts + 30, EventType.form_submit, e.account, target="daily-report")
    assert detect(logs) == []


def test_two_separate_rounds_are_two_findings_and_thresholds_hold():
    rng = random.Random(4)
    logs = {app: Events(app) for app in [*OFFICIAL, "oa-a", "oa-b", "oa-c"]}
    daily_round(rng, logs, OFFICIAL[:3], [f"x{i}" for i in range(10)])
    daily_round(rng, logs, ["oa-a", "oa-b", "oa-c"], [f"y{i}" for i in range(8)])
    daily_round(rng, logs, OFFICIAL[3:], [f"z{i}" for i in range(3)])  # too few to tell
    found = detect(logs)
    assert [sorted(f.apps) for f in found] == [
        ["oa-a", "oa-b", "oa-c"], sorted(OFFICIAL[:3])
    ]
    assert detect(logs, min_accounts=9) and len(detect(logs, min_accounts=9)) == 1
    assert detect(logs, min_days=6) == []  # five workdays in the window


def test_a_round_needs_min_apps_apps_with_events():
    """Two accounts opened every morning make a round of two apps, not of three; apps
    without events count for nothing."""
    rng = random.Random(5)
    logs = {app: Events(app) for app in OFFICIAL[:2]}
    daily_round(rng, logs, OFFICIAL[:2], [f"official{i:02d}" for i in range(10)], p=1.0)
    logs.update({app: Events(app) for app in OFFICIAL[2:]})  # registered, silent
    assert detect(logs, min_apps=3) == []
    [f] = detect(logs, min_apps=2)
    assert sorted(f.apps) == OFFICIAL[:2]


def test_the_engine_counts_the_round_for_every_app_of_the_group():
    from tapwatch.detectors.engine import run_fleet

    rng = random.Random(5)
    logs = {app: Events(app) for app in OFFICIAL}
    organic_readers(rng, logs, n=50)
    daily_round(rng, logs, OFFICIAL[:4], [f"official{i:02d}" for i in range(12)])
    res = run_fleet(fleet(logs))
    assert [f.kind for f in res.findings if f.kind == "ritual_rounds"] == ["ritual_rounds"]
    assert {a: res.metrics[a].ritual_round_accounts for a in OFFICIAL} == {
        **{a: 12 for a in OFFICIAL[:4]}, OFFICIAL[4]: 0
    }
    for app in OFFICIAL[:4]:
        assert res.metrics[app].findings_open_by_kind["ritual_rounds"] == 1


def test_settings_are_fleet_wide_the_daemons_section_not_an_apps_overrides():
    from tapwatch.detectors.engine import run_fleet

    rng = random.Random(6)
    logs = {app: Events(app) for app in OFFICIAL[:3]}
    daily_round(rng, logs, OFFICIAL[:3], [f"official{i:02d}" for i in range(12)])

    def rounds(inputs: list[DetectorInput], defaults: dict | None = None) -> int:
        res = run_fleet(inputs, defaults)
        return sum(f.kind == "ritual_rounds" for f in res.findings)

    assert rounds(fleet(logs)) == 1
    assert rounds(fleet(logs), {"ritual_rounds": {"min_accounts": 13}}) == 0
    inputs = fleet(logs)
    inputs[0].app.detector_overrides = {"ritual_rounds": {"min_accounts": 13}}
    assert rounds(inputs) == 1


def test_membership_by_table_and_by_search_agree() -> None:
    """`_in` looks keys up in a table where the key space is small and searches the
    distinct keys where a table would be large (analyze's tables grow over a dump)."""
    import numpy as np

    rng = np.random.default_rng(3)
    among = rng.integers(0, 5000, 800)
    keys = rng.integers(0, 5000, 3000)
    want = np.isin(keys, among)
    assert (rr._in(keys, among, 5000) == want).all()  # a table
    assert (rr._in(keys, among, 1 << 40) == want).all()  # a search (keys fit either way)
    assert rr._in(keys[:0], among, 5000).size == 0
