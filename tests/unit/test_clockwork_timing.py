from __future__ import annotations

import math
import random
from datetime import date, timedelta

import numpy as np
import pytest

from tapwatch.detectors import clockwork_timing as cw
from tapwatch.detectors.stats import corrected_burstiness
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import Events, at, days, encoded, hm, make_input

NOW_DAY = date(2026, 11, 27)
NOW = at(NOW_DAY, hm(20))
WORKDAYS = days(NOW_DAY - timedelta(days=60), 60, weekdays_only=True)


def _person(ev: Events, rng: random.Random, acct: str, spread_min: float) -> None:
    """A person: arrives around 8:30 give or take `spread_min` minutes, works 80% of days,
    then a few actions with heavy-tailed (log-normal) gaps."""
    for d in WORKDAYS:
        if rng.random() > 0.8:
            continue
        t = at(d, hm(8, 30) + rng.gauss(0, spread_min * 60))
        ev.add(t, EventType.session_start, acct)
        for _ in range(rng.randint(3, 12)):
            t += rng.lognormvariate(math.log(60), 1.2)
            ev.add(t, rng.choice([EventType.read, EventType.form_submit, EventType.like]), acct)


def _app(rng: random.Random, people: int, steady: int = 0, metronomes: int = 0) -> Events:
    ev = Events()
    for i in range(people):
        _person(ev, rng, f"p{i:03d}", rng.uniform(10, 30))
    for i in range(steady):
        # a scheduled job: the same minute every working day, seconds of jitter
        for d in WORKDAYS:
            ev.add(at(d, hm(8, 30) + rng.uniform(-20, 20)), EventType.checkin, f"s{i:02d}")
    for i in range(metronomes):
        # an auto-clicker: reads every 30 s (+-1 s), at a time of day that varies
        for d in WORKDAYS[-5:]:
            t = at(d, hm(rng.randint(9, 15)))
            for _ in range(15):
                ev.add(t, EventType.read, f"m{i:02d}")
                t += 30 + rng.uniform(-1, 1)
    return ev


def test_corrected_burstiness_limits():
    n = np.array([10.0, 10.0, 10.0, 1000.0])
    mean = np.ones(4)
    std = np.array([0.0, 3.0, 1.0, 1.0])  # clock, max for n=10 (sqrt(9)), Poisson-like
    b = corrected_burstiness(mean, std, n)
    assert b[0] == pytest.approx(-1.0)
    assert b[1] == pytest.approx(1.0)
    assert 0.0 < b[2] < 0.1 and abs(b[3]) < 0.02  # r=1 tends to 0 as n grows
    assert np.isnan(corrected_burstiness(np.zeros(1), np.zeros(1), np.array([10.0])))[0]


def test_scheduled_and_metronome_accounts_are_found():
    ev = _app(random.Random(1), people=40, steady=5, metronomes=4)
    out = cw.detect(make_input(ev.items, NOW), cw.Settings())
    assert len(out) == 1
    f = out[0]
    assert f.evidence["accounts"] == [f"m{i:02d}" for i in range(4)] + [
        f"s{i:02d}" for i in range(5)
    ]
    assert f.evidence["share"] == pytest.approx(9 / 49, abs=1e-4)
    by_code = {r.code: r.value for r in f.reasons}
    assert by_code == {
        "clockwork_share": pytest.approx(9 / 49, abs=1e-4),
        "steady_first_action": 5.0,
        "regular_intervals": 4.0,
    }
    hist = f.evidence["first_action_spread_histogram_min"]
    assert hist["counts"][0] == 5  # the five jobs, under a minute
    assert sum(hist["counts"][:3]) == 5  # no person within 3 minutes
    assert f.evidence["burstiness_histogram"]["counts"][0] == 4
    ex = f.evidence["example_first_actions"]
    assert list(ex) == ["m00", "m01", "m02", "m03", "s00"]
    assert all(
        t.split()[1].startswith("08:2") or t.split()[1].startswith("08:30") for t in ex["s00"]
    )
    assert f.evidence["event_ids_total"] > 0


def test_people_with_routines_stay_silent():
    ev = _app(random.Random(2), people=60)
    assert cw.detect(make_input(ev.items, NOW), cw.Settings()) == []


def test_two_clocks_in_a_big_app_stay_below_the_share():
    ev = _app(random.Random(3), people=60, steady=2)
    assert cw.detect(make_input(ev.items, NOW), cw.Settings()) == []
    # ... but a tiny app with the same two clocks is mostly clockwork
    small = _app(random.Random(3), people=4, steady=3)
    assert len(cw.detect(make_input(small.items, NOW), cw.Settings())) == 1


def test_empty_window_gives_nothing():
    assert cw.detect(make_input([], NOW), cw.Settings()) == []


def test_deterministic():
    ev = _app(random.Random(4), people=20, steady=4)
    a = cw.detect(make_input(ev.items, NOW), cw.Settings())
    b = cw.detect(make_input(list(reversed(ev.items)), NOW), cw.Settings())
    assert a and encoded(a) == encoded(b)


def _sharing_tables(inp):
    """The same input with the raw window coded into the rollups' account table (one list
    object, as analyze's shared tables), not a table of its own (the daemon's)."""
    import dataclasses

    ad, win = inp.account_days, inp.events
    index = {name: code for code, name in enumerate(ad.accounts)}
    recode = np.array([index[name] for name in win.accounts], dtype=np.int32)
    shared = dataclasses.replace(win, account=recode[win.account], accounts=ad.accounts)
    return dataclasses.replace(inp, events=shared)


@pytest.mark.parametrize(("seed", "steady", "metronomes"), [(1, 5, 4), (5, 0, 6), (6, 4, 0)])
def test_shared_and_own_account_tables_give_the_same_finding(seed, steady, metronomes):
    """Accounts are matched between the rollups and the raw window by code where both use
    one table, by pseudonym where each has its own: the same finding either way."""
    ev = _app(random.Random(seed), people=30, steady=steady, metronomes=metronomes)
    inp = make_input(ev.items, NOW)
    shared = _sharing_tables(inp)
    assert shared.events.accounts is shared.account_days.accounts
    assert inp.events.accounts is not inp.account_days.accounts
    own = cw.detect(inp, cw.Settings())
    assert len(own) == 1
    assert encoded(cw.detect(shared, cw.Settings())) == encoded(own)
    assert own[0].evidence["accounts_total"] == steady + metronomes


@pytest.mark.parametrize("settings", [cw.Settings(), cw.Settings(min_days=5, min_accounts=1)])
def test_a_batch_of_apps_gives_each_app_its_own_findings(settings: cw.Settings) -> None:
    """detect_batch over a fleet (its accounts stacked) = detect app by app, in app order,
    byte for byte: apps of every shape, one in another time zone, one with its window
    coded into its rollups' table (analyze's), one empty."""
    from zoneinfo import ZoneInfo

    from tapwatch.detectors.base import AppProfile
    from tapwatch.detectors.derived import one_pass

    shapes = [
        _app(random.Random(1), people=40, steady=5, metronomes=4),
        _app(random.Random(2), people=60),
        _app(random.Random(3), people=4, steady=3),
        Events(),
        _app(random.Random(5), people=30, metronomes=6),
        _app(random.Random(6), people=30, steady=4),
    ]
    zones = ["Asia/Shanghai", "Asia/Shanghai", "Europe/Berlin"] + ["Asia/Shanghai"] * 3
    inputs = [
        make_input(ev.items, NOW, profile=AppProfile(id=f"app-{k}", timezone=ZoneInfo(z)))
        for k, (ev, z) in enumerate(zip(shapes, zones, strict=True))
    ]
    inputs[5] = _sharing_tables(inputs[5])
    alone = [f for inp in inputs for f in cw.detect(inp, settings)]
    assert {f.app for f in alone} >= {"app-0", "app-2", "app-4", "app-5"}
    with one_pass(inputs):
        together = cw.detect_batch(inputs, settings)
    assert encoded(together) == encoded(alone)
    assert encoded(cw.detect_batch(inputs[::-1], settings)) == encoded(
        [f for inp in inputs[::-1] for f in cw.detect(inp, settings)]
    )
