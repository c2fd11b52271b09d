from __future__ import annotations

import math
import random
from datetime import date, timedelta

import numpy as np
import pytest

from tapwatch.detectors import flat_reads as fr
from tapwatch.detectors.base import AppProfile
from tapwatch.detectors.derived import one_pass
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import TZ, Events, at, encoded, hm, make_input

NOW_DAY = date(2026, 11, 27)
NOW = at(NOW_DAY, hm(20))
STAFF = [f"u{i:03d}" for i in range(120)]


def _profile(intended: int | None) -> AppProfile:
    return AppProfile(id="app-test", timezone=TZ, intended_users=intended)


def _ordered_reading(rng: random.Random, articles: int = 12) -> Events:
    """An official account: every article opened by (nearly) all 120 staff the day it is
    posted, because they were told to."""
    ev = Events()
    for a in range(articles):
        d = NOW_DAY - timedelta(days=5 - a // 2)
        for acct in STAFF:
            if rng.random() < 0.97:
                ev.add(
                    at(d, hm(9) + rng.uniform(0, 8 * 3600)),
                    EventType.read,
                    acct,
                    target=f"article-{a:02d}",
                )
    return ev


def _organic_reading(rng: random.Random, articles: int = 12) -> Events:
    """Readers choose: popularity is log-normal, so some notices reach most staff and most
    reach a few."""
    ev = Events()
    for a in range(articles):
        d = NOW_DAY - timedelta(days=5 - a // 2)
        n = min(len(STAFF), max(1, round(rng.lognormvariate(math.log(30), 1.0))))
        for acct in rng.sample(STAFF, n):
            ev.add(
                at(d, hm(8) + rng.uniform(0, 14 * 3600)),
                EventType.read,
                acct,
                target=f"article-{a:02d}",
            )
    return ev


def test_ordered_reading_is_flat_and_matches_the_head_count():
    ev = _ordered_reading(random.Random(1))
    out = fr.detect(make_input(ev.items, NOW, profile=_profile(120)), fr.Settings())
    assert len(out) == 1
    f = out[0]
    assert [r.code for r in f.reasons] == [
        "flat_reads",
        "same_readers_for_everything",
        "reads_match_intended_users",
    ]
    assert f.evidence["cv"] < 0.05
    assert f.evidence["ratio_to_intended_users"] == pytest.approx(0.97, abs=0.03)
    assert f.evidence["dispersion_index"] < 0.1  # under-dispersed: nobody chose
    assert f.evidence["completionist_share"] > 0.95  # everyone read everything
    per_reader = f.evidence["articles_per_reader_histogram"]["counts"]
    assert sum(per_reader) == 120 and per_reader[4] >= 115
    # today's two articles are still gathering readers and are left out
    assert f.evidence["articles"] == 10
    assert [a["target"] for a in f.evidence["reads_per_article"]] == [
        f"article-{a:02d}" for a in range(10)
    ]
    reads = [a["reads"] for a in f.evidence["reads_per_article"]]
    assert f.evidence["event_ids_total"] == sum(reads)
    assert f.evidence["accounts_total"] == 120
    assert f.severity == "critical" and f.confidence == 1.0


def test_articles_cut_by_the_window_start_do_not_hide_the_pattern():
    """Two articles posted the day the raw window begins (at 16:00) show only the reads
    of their last hour; the plain CV is high, the robust one is not."""
    rng = random.Random(9)
    ev = Events()
    now = at(NOW_DAY, hm(16))
    for a in range(12):
        d = NOW_DAY - timedelta(days=7 - a // 2)
        for acct in STAFF:
            if rng.random() < 0.97:
                ev.add(
                    at(d, hm(8) + rng.uniform(0, 9 * 3600)),
                    EventType.read,
                    acct,
                    target=f"article-{a:02d}",
                )
    out = fr.detect(make_input(ev.items, now, profile=_profile(120)), fr.Settings())
    assert len(out) == 1
    f = out[0]
    assert f.evidence["cv"] > 0.25 and f.evidence["robust_cv"] < 0.05
    assert min(a["reads"] for a in f.evidence["reads_per_article"]) < 30


def test_flat_without_an_intended_head_count_still_reported_on_flatness_alone():
    ev = _ordered_reading(random.Random(2))
    with_count = fr.detect(make_input(ev.items, NOW, profile=_profile(120)), fr.Settings())
    without = fr.detect(make_input(ev.items, NOW, profile=_profile(None)), fr.Settings())
    assert [r.code for r in without[0].reasons] == ["flat_reads", "same_readers_for_everything"]
    assert without[0].evidence["ratio_to_intended_users"] is None
    assert without[0].score < with_count[0].score
    # a head count far from the reads does not add the second reason
    far = fr.detect(make_input(ev.items, NOW, profile=_profile(1000)), fr.Settings())
    assert [r.code for r in far[0].reasons] == ["flat_reads", "same_readers_for_everything"]


@pytest.mark.parametrize("seed", range(5))
def test_organic_readership_stays_silent(seed: int):
    ev = _organic_reading(random.Random(seed))
    inp = make_input(ev.items, NOW, profile=_profile(120))
    reads = np.unique(inp.events.target, return_counts=True)[1]
    assert reads.std() / reads.mean() > 0.35  # the planted world varies by article
    assert fr.detect(inp, fr.Settings()) == []


def test_ordered_reading_is_found_under_casual_public_readers():
    rng = random.Random(8)
    ev = _ordered_reading(rng)
    for i in range(300):
        for a in rng.sample(range(12), rng.randint(1, 2)):
            d = NOW_DAY - timedelta(days=5 - a // 2)
            ev.add(
                at(d, hm(8) + rng.uniform(0, 14 * 3600)),
                EventType.read,
                f"pub{i:03d}",
                target=f"article-{a:02d}",
            )
    out = fr.detect(make_input(ev.items, NOW, profile=_profile(120)), fr.Settings())
    assert len(out) == 1
    assert 0.6 < out[0].evidence["completionist_share"] < 0.85
    # the public readers push the reads above the head count: no "matches" reason
    assert [r.code for r in out[0].reasons] == ["flat_reads", "same_readers_for_everything"]


def test_equally_popular_articles_read_by_chance_are_not_flat():
    """2,000 readers each opening a few of 12 equally appealing articles at random: counts
    are Poisson (low CV at ~200 reads each, but variance = mean), not ordered."""
    rng = random.Random(7)
    ev = Events()
    readers = [f"r{i:04d}" for i in range(2000)]
    for acct in readers:
        for a in rng.sample(range(12), rng.randint(1, 2)):
            d = NOW_DAY - timedelta(days=5 - a // 2)
            ev.add(
                at(d, hm(8) + rng.uniform(0, 14 * 3600)),
                EventType.read,
                acct,
                target=f"article-{a:02d}",
            )
    inp = make_input(ev.items, NOW, profile=_profile(None))
    counts = np.unique(inp.events.target, return_counts=True)[1][:10]
    assert counts.std() / counts.mean() < 0.25  # flat by CV alone ...
    assert fr.detect(inp, fr.Settings()) == []  # ... but every reader chose a few


def test_too_few_articles_or_reads_say_nothing():
    ev = _ordered_reading(random.Random(3), articles=8)  # posted 2-5 days ago
    assert len(fr.detect(make_input(ev.items, NOW), fr.Settings(min_articles=8))) == 1
    assert fr.detect(make_input(ev.items, NOW), fr.Settings(min_articles=9)) == []
    assert fr.detect(make_input(ev.items, NOW), fr.Settings(min_mean_reads=200)) == []
    assert fr.detect(make_input([], NOW), fr.Settings()) == []


def test_deterministic():
    ev = _ordered_reading(random.Random(4))
    a = fr.detect(make_input(ev.items, NOW, profile=_profile(120)), fr.Settings())
    b = fr.detect(make_input(list(reversed(ev.items)), NOW, profile=_profile(120)), fr.Settings())
    assert a and encoded(a) == encoded(b)


@pytest.mark.parametrize(
    "settings", [fr.Settings(), fr.Settings(min_articles=8), fr.Settings(min_mean_reads=200)]
)
def test_a_batch_of_apps_gives_each_app_its_own_findings(settings: fr.Settings) -> None:
    """detect_batch (its first tests for every app at once) = detect app by app, in app
    order, byte for byte, whichever apps it lets through."""
    fleet = [
        _ordered_reading(random.Random(1)),
        _organic_reading(random.Random(2)),
        _ordered_reading(random.Random(3), articles=8),
        Events(),
        _ordered_reading(random.Random(4)),
    ]
    inputs = [
        make_input(ev.items, NOW, profile=AppProfile(id=f"app-{k}", timezone=TZ,
                                                     intended_users=120))
        for k, ev in enumerate(fleet)
    ]
    alone = [f for inp in inputs for f in fr.detect(inp, settings)]
    with one_pass(inputs):
        together = fr.detect_batch(inputs, settings)
    assert encoded(together) == encoded(alone)
    if settings == fr.Settings():
        assert {f.app for f in together} == {"app-0", "app-2", "app-4"}
