"""Same-job evidence of a whole group counted at once equals the pairwise comparison."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tapwatch.detectors import stats
from tapwatch.detectors.same_job import (
    AppTraits,
    JobRule,
    _rounded,
    describe,
    evidence_between,
    same_job_evidence,
)


def group(seed: int, n: int) -> tuple[list[AppTraits], list[JobRule]]:
    rng = random.Random(seed)

    def some(prefix: str, pool: int, most: int) -> frozenset[str]:
        return frozenset(f"{prefix}{rng.randrange(pool)}" for _ in range(rng.randrange(most)))

    apps = [
        AppTraits(
            app=f"app{i}",
            features=some("f", 6, 5),
            accounts=some("acc", 80, 60),
            units=some("u", 10, 8),
            forms=some("form", 30, 20),
        )
        for i in range(n)
    ]
    apps.append(AppTraits("blank", frozenset(), frozenset(), frozenset(), frozenset()))
    rules = [
        JobRule(
            feature_similarity=rng.choice([0.5, 0.8, 2.0]),
            shared_forms=rng.choice([1, 3, 100]),
            unit_overlap=rng.choice([0.3, 0.6, 2.0]),
            account_overlap=rng.choice([0.2, 0.5, 2.0]),
        )
        for _ in apps
    ]
    return apps, rules


@pytest.mark.parametrize("chunk", [1 << 21, 5])  # pairs counted at once, or in chunks
def test_a_groups_evidence_is_each_pairs(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(stats, "_PAIR_CHUNK", chunk)
    for seed in range(5):
        apps, rules = group(seed, 25)
        expected = {
            (i, j): ev
            for i, me in enumerate(apps)
            for j, other in enumerate(apps)
            if i != j and (ev := same_job_evidence(me, other, rules[i]))
        }
        got = evidence_between(apps, rules)
        assert got == expected
        # the same measures in the same order (the finding's text follows it)
        assert [list(v) for v in got.values()] == [list(v) for v in expected.values()]
        assert len(expected) > 50


def test_rounded_is_pythons_round_of_each_value() -> None:
    """Each distinct value rounded once gives what rounding every value gives, also where
    numpy's own rounding would not (values halfway in decimal, not in binary)."""
    rng = np.random.default_rng(4)
    values = np.concatenate([
        rng.integers(0, 50, 300) / rng.integers(1, 50, 300),
        [0.0, 1.0, 0.0005, 0.0015, 0.1235, 2.675, 0.2345],
    ])
    for ndigits in (3, 4):
        assert _rounded(values, ndigits) == [round(v, ndigits) for v in values.tolist()]
    assert _rounded(np.zeros(0), 3) == []


def test_describe_words_each_evidence_as_its_measures_say() -> None:
    """Kept words per distinct evidence are those the measures give, in their order."""
    cases = [
        ({"feature_similarity": 0.75, "shared_units": 0.5}, "declared features 75% alike, "
         "50% of its units"),
        ({"same_category": 1.0, "shared_forms": 4.0}, "the same category, 4 forms filed in both"),
        ({"shared_units": 0.5, "feature_similarity": 0.75}, "50% of its units, declared "
         "features 75% alike"),
        ({"shared_accounts": 0.333}, "33% of its accounts"),
    ]
    for _ in range(2):  # the second time from the kept words
        for evidence, words in cases:
            assert describe(evidence) == words


def test_a_string_in_two_kinds_of_set_counts_in_each_kind_only() -> None:
    """Features, accounts, forms and units are counted through one index of members: the
    same string as a feature of one app and an account of another is in common to
    neither."""
    a = AppTraits("a", frozenset({"x", "y"}), frozenset({"p", "q"}), frozenset({"u"}),
                  frozenset({"h1", "h2", "h3"}))
    b = AppTraits("b", frozenset({"p", "q"}), frozenset({"x", "y"}), frozenset({"h1"}),
                  frozenset({"u", "x"}))
    c = AppTraits("c", frozenset({"x", "y"}), frozenset({"p"}), frozenset({"u"}),
                  frozenset({"h1", "h2", "h3"}))
    rule = JobRule(feature_similarity=0.5, shared_forms=1, unit_overlap=0.5,
                   account_overlap=0.5)
    apps = [a, b, c]
    got = evidence_between(apps, [rule] * 3)
    assert got == {
        (i, j): ev
        for i, me in enumerate(apps)
        for j, other in enumerate(apps)
        if i != j and (ev := same_job_evidence(me, other, rule))
    }
    assert (0, 1) not in got and (1, 0) not in got  # nothing of a kind in common
    assert got[(0, 2)] == {"feature_similarity": 1.0, "shared_accounts": 0.5,
                           "shared_forms": 3.0, "shared_units": 1.0}
