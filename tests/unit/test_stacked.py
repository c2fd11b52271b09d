"""The stacked columns' helpers (detectors/stacked.py) against their plain definitions."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tapwatch.detectors import clockwork_timing as cw
from tapwatch.detectors import stacked
from tapwatch.detectors.stats import grouped_mad
from tapwatch.events import EventType
from tests.unit.forced_usage_builders import at, hm


def _stack(sizes: list[int]) -> stacked.Stack:
    return stacked._stack(sizes, [10] * len(sizes), [0] * len(sizes))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("seed", range(5))
def test_in_day_span_is_both_bounds_per_app(dtype: type, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 300, size=int(rng.integers(1, 6))).tolist()
    stack = _stack(sizes)
    n = int(stack.starts[-1])
    day = rng.integers(20_300, 20_450, size=n).astype(dtype)
    # around the days held: before them all, among them, after them
    first = rng.integers(20_250, 20_500, size=len(sizes)).astype(np.int64)
    span = int(rng.integers(1, 121))
    want = (day >= first[stack.owner]) & (day < first[stack.owner] + span)
    assert np.array_equal(stacked.in_day_span(stack, day, first, span), want)


def test_in_day_span_far_days_and_empty_apps() -> None:
    stack = _stack([0, 3, 0, 2])
    day = np.array([-5, 0, 2**31 - 1, 7, 8], dtype=np.int32)
    first = np.array([0, -5, 0, 8], dtype=np.int64)
    assert stacked.in_day_span(stack, day, first, 6).tolist() == [True, True, False, False, True]
    # days beyond what the 32-bit difference holds take 64 bits
    first = np.array([0, 2**40, 0, -(2**40)], dtype=np.int64)
    assert not stacked.in_day_span(stack, day, first, 2**20).any()
    # one app (its first day taken as a scalar), both widths
    one = _stack([5])
    for d in (day, day.astype(np.int64)):
        got = stacked.in_day_span(one, d, np.array([-5]), 6)
        assert got.tolist() == [True, True, False, False, False]
        assert not stacked.in_day_span(one, d, np.array([2**40]), 6).any()


@pytest.mark.parametrize("seed", range(5))
def test_owners_of_ascending_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 50, size=int(rng.integers(1, 8))).tolist()
    stack = _stack(sizes)
    rows = np.flatnonzero(rng.random(int(stack.starts[-1])) < 0.4)
    got = stacked.owners_of(stack, rows)
    assert got.dtype == np.int32
    assert np.array_equal(got, stack.owner[rows])


def test_one_apps_column_is_itself_read_only(make_inputs) -> None:
    one, two = make_inputs
    col = stacked.account_days_column([one], "first_s")
    assert np.shares_memory(col, one.account_days.first_s)
    with pytest.raises(ValueError):
        col[:1] = 0
    both = stacked.account_days_column([one, two], "first_s")
    firsts = [one.account_days.first_s, two.account_days.first_s]
    assert np.array_equal(both, np.concatenate(firsts))
    assert np.shares_memory(stacked.events_column([one], "ts"), one.events.ts)


@pytest.fixture
def make_inputs():
    """Two clock-work apps' inputs, the first with accounts of too few days for the
    first-action test."""
    from tests.unit.forced_usage_builders import make_input
    from tests.unit.test_clockwork_timing import NOW, WORKDAYS, _app

    first = _app(random.Random(1), people=30, steady=5)
    for i in range(6):
        for d in WORKDAYS[-3:]:
            first.add(at(d, hm(8, 31) + i), EventType.checkin, f"few{i}")
    second = _app(random.Random(2), people=10)
    return make_input(first.items, NOW), make_input(second.items, NOW)


def test_clockwork_spread_is_that_of_every_eligible_account(make_inputs) -> None:
    """The first action's spread is measured only over accounts with min_days days: for
    those it is the spread over every look-back row, as before."""
    inp = make_inputs[0]
    st = cw.Settings()
    m = cw._measures([inp], st)
    acc = inp.account_days.account[m.sel]
    full = grouped_mad(acc, inp.account_days.first_s[m.sel], len(inp.account_days.accounts))
    assert m.eligible_first.any() and (~m.eligible_first[np.unique(acc)]).any()
    assert np.array_equal(m.spread[m.eligible_first], full[m.eligible_first], equal_nan=True)
    assert np.isnan(m.spread[~m.eligible_first]).all()
