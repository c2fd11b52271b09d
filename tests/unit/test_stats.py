"""Grouped statistics the detectors share (tapwatch.detectors.stats)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tapwatch.detectors import stats
from tapwatch.detectors.stats import grouped_mad, grouped_median


def _reference_median(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """One np.median per group, NaN for an empty group: slow and obviously right."""
    out = np.full(n_groups, np.nan)
    for g in range(n_groups):
        mine = values[groups == g]
        if mine.size:
            out[g] = np.median(mine)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grouped_median_equals_one_median_per_group(seed: int) -> None:
    """Random sizes of groups (some empty, some of one value, even and odd counts), values
    with ties and negative numbers, given in no order."""
    rng = np.random.default_rng(seed)
    n_groups = 40
    groups = rng.integers(0, n_groups - 5, 2_000)  # the last five groups stay empty
    values = np.round(rng.normal(0, 50, groups.size))  # rounded: many ties
    got = grouped_median(groups, values, n_groups)
    want = _reference_median(groups, values, n_groups)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)])
    assert np.isnan(got[-5:]).all()


def test_grouped_median_of_integers_and_of_nothing() -> None:
    groups = np.array([2, 0, 2, 2, 0])
    values = np.array([9, 4, 1, 5, 6])  # integers: the median of two is their mean
    np.testing.assert_allclose(grouped_median(groups, values, 3), [5.0, np.nan, 5.0])
    empty = grouped_median(np.array([], dtype=np.int64), np.array([]), 2)
    assert empty.shape == (2,) and np.isnan(empty).all()


def test_grouped_mad_scales_the_median_absolute_deviation() -> None:
    groups = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0, 7.0, 7.0, 7.0])
    # group 0: median 3, deviations 2 1 0 1 97 -> median 1; group 1: no spread
    np.testing.assert_allclose(grouped_mad(groups, values, 2), [1.4826, 0.0])


def test_values_sorted_within_groups_by_key_or_by_lexsort_when_the_key_would_overflow() -> None:
    """The one-key sort and its lexsort fallback (group count x values past int64) order
    values the same way, NaN last within its group."""
    from tapwatch.detectors.stats import _sorted_within_groups

    rng = np.random.default_rng(7)
    groups = rng.integers(0, 30, 500)
    values = rng.normal(0, 1, 500)
    values[::37] = np.nan
    want = values[np.lexsort((values, groups))]
    by_key = _sorted_within_groups(groups, values, 30)
    by_lexsort = _sorted_within_groups(groups, values, 2**61)  # 2**61 x 500 overflows
    np.testing.assert_array_equal(by_key, want)
    np.testing.assert_array_equal(by_lexsort, want)


@pytest.mark.parametrize("n_groups", [1, 2, 30, 200_000, 2**40])
@pytest.mark.parametrize("seed", [1, 2])
def test_packed_key_sort_orders_as_lexsort_or_declines(seed: int, n_groups: int) -> None:
    """The one-sort path (group and value bits in one uint64) gives exactly what lexsort
    gives for values of float32 origin, with ties and NaN; it declines (None) where a
    value has its sign bit set (negatives, -0.0) or bits the group needs, and the
    grouped statistics then take the other path to the same result."""
    from tapwatch.detectors.stats import _sorted_by_packed_key, _sorted_within_groups

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, 3_000)
    seconds = (rng.random(groups.size) * 86_400).astype(np.float32).astype(np.float64)
    seconds[::3] = np.round(seconds[::3] / 600) * 600  # ties
    with_nan = seconds.copy()
    with_nan[::17] = np.nan
    for values in (seconds, with_nan):
        want = values[np.lexsort((values, groups))]
        got = _sorted_by_packed_key(groups, values, n_groups)
        if n_groups < 2**40:  # 41 bits of group: float32 values keep only 29 zero bits
            assert got is not None
            np.testing.assert_array_equal(got, want)
        else:
            assert got is None
    signed = seconds.copy()
    signed[::5] *= -1
    signed[::11] = -0.0
    fine = rng.random(groups.size) * 86_400  # full float64 precision: low bits in use
    for values in (signed, fine):
        if n_groups > 2 or values is signed:  # two groups take the (free) sign bit only
            assert _sorted_by_packed_key(groups, values, n_groups) is None
        want = values[np.lexsort((values, groups))]
        got = _sorted_within_groups(groups, values, n_groups)
        np.testing.assert_array_equal(got, want)  # -0.0 == 0.0: ties in any order
    if n_groups <= 30:  # the MAD, whose deviations go through the same sort
        mad = grouped_mad(groups, seconds, n_groups)
        med = _reference_median(groups, seconds, n_groups)
        dev = np.abs(seconds - med[groups])
        np.testing.assert_array_equal(mad, 1.4826 * _reference_median(groups, dev, n_groups))


@pytest.mark.parametrize("size", [0, 1, 2, 5_000])
def test_sorted_distinct_is_np_unique_of_integers(size: int) -> None:
    from tapwatch.detectors.stats import sorted_distinct

    rng = np.random.default_rng(size)
    for values in (rng.integers(-50, 50, size), rng.integers(0, 2**40, size),
                   rng.integers(0, 9, (size, 2)).astype(np.int32)):
        got = sorted_distinct(values)
        want = np.unique(values)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_shared_member_counts_are_those_of_every_pair(monkeypatch) -> None:
    """The index of members gives each pair of sets the count of members in both, exactly
    as intersecting every pair would, also when the pairs are counted in chunks and when
    they are too many to count in one array."""
    rng = random.Random(11)
    pool = [f"c{i}" for i in range(60)]
    forms = [frozenset(rng.sample(pool, rng.randrange(0, 25))) for _ in range(40)]
    forms[3] = frozenset()  # an empty set
    expected = {
        (i, j): len(forms[i] & forms[j])
        for i in range(len(forms)) for j in range(i + 1, len(forms))
        if forms[i] & forms[j]
    }
    for chunk, dense in ((1 << 21, 1 << 20), (1 << 21, 0), (7, 1 << 20), (7, 0), (1, 0)):
        monkeypatch.setattr(stats, "_PAIR_CHUNK", chunk)
        monkeypatch.setattr(stats, "_DENSE_PAIRS", dense)
        first, second, shared = stats.shared_member_counts(forms)
        got = dict(zip(zip(first.tolist(), second.tolist(), strict=True), shared.tolist(),
                       strict=True))
        assert got == expected
        assert list(got) == sorted(got)
    none = stats.shared_member_counts([frozenset({"a"}), frozenset({"b"})])
    assert all(a.size == 0 for a in none)
    assert all(a.size == 0 for a in stats.shared_member_counts([]))


class _Colliding(str):
    """A string whose hash every other one shares (as distinct strings may)."""

    def __hash__(self) -> int:
        return 7


def test_shared_member_counts_when_distinct_members_share_a_hash() -> None:
    """Members are told apart by value, not by hash: distinct strings with one hash are
    different members, equal ones (whatever object holds them) the same."""
    a, b, c = _Colliding("a"), _Colliding("b"), _Colliding("c")
    sets = [{a, b}, {b, c}, {_Colliding("a"), c}, {"d", b}, {"d"}]
    first, second, shared = stats.shared_member_counts(sets)
    got = dict(zip(zip(first.tolist(), second.tolist(), strict=True), shared.tolist(),
                   strict=True))
    assert got == {
        (i, j): len(set(sets[i]) & set(sets[j]))
        for i in range(len(sets)) for j in range(i + 1, len(sets))
        if set(sets[i]) & set(sets[j])
    }
    assert got == {(0, 1): 1, (0, 2): 1, (0, 3): 1, (1, 2): 1, (1, 3): 1, (3, 4): 1}


def test_of_types_is_isin() -> None:
    rng = np.random.default_rng(2)
    types = rng.integers(0, 256, 5000).astype(np.uint8)
    for codes in ([], [0], [3, 7, 255], list(range(0, 256, 3)), [300, -1, 4]):
        wanted = np.array(codes, dtype=np.int64)
        assert (stats.of_types(types, wanted) == np.isin(types, wanted)).all()
    wide = types.astype(np.int64) * 3
    assert (stats.of_types(wide, np.array([3, 9])) == np.isin(wide, [3, 9])).all()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_unique_pairs_is_the_row_wise_unique(dtype: type) -> None:
    rng = np.random.default_rng(4)
    for n, lo, hi in ((0, 0, 1), (1, 0, 1), (500, 0, 5), (3000, -40, 900)):
        if np.dtype(dtype).kind == "u":
            lo = max(lo, 0)
        a = rng.integers(lo, hi, n).astype(dtype)
        b = rng.integers(lo, hi, n).astype(np.int64 if n % 2 else dtype)
        want, want_inv = np.unique(np.stack((a, b)), axis=1, return_inverse=True)
        got, inv = stats.unique_pairs(a, b)
        assert got.dtype == want.dtype and (got == want).all() and got.shape == want.shape
        assert (inv == want_inv.reshape(-1)).all()
    huge = np.array([0, 2**40, 0], dtype=np.int64)
    got, inv = stats.unique_pairs(huge, huge[::-1].copy())
    want, want_inv = np.unique(np.stack((huge, huge[::-1])), axis=1, return_inverse=True)
    assert (got == want).all() and (inv == want_inv.reshape(-1)).all()


def test_count_distinct_is_unique_size() -> None:
    rng = np.random.default_rng(6)
    for n, size in ((1, 0), (5, 3), (300, 1000), (4000, 50)):
        codes = rng.integers(0, n, size).astype(np.int32)
        assert stats.count_distinct(codes, n) == np.unique(codes).size


def test_distinct_codes_is_unique() -> None:
    rng = np.random.default_rng(7)
    for n, size, dtype in ((1, 0, np.int32), (5, 3, np.int32), (300, 1000, np.int64),
                           (4000, 50, np.int32)):
        codes = rng.integers(0, n, size).astype(dtype)
        got = stats.distinct_codes(codes, n)
        want = np.unique(codes)
        assert got.dtype == want.dtype and got.tolist() == want.tolist()


def test_rounded_is_pythons_round_bit_for_bit() -> None:
    """numpy's scaled rounding where it cannot differ, Python's near ties: the same
    doubles as `round(v, n)` for shares, exact ties and their neighbours, negatives, huge
    values, zeros and non-finite ones."""
    import math

    from tapwatch.detectors.stats import rounded

    rng = np.random.default_rng(11)
    ties = (np.arange(-2000, 2000) + 0.5) / 1000
    values = np.concatenate([
        rng.random(20_000), rng.integers(0, 400, 5_000) / rng.integers(1, 400, 5_000),
        ties, np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf),
        [0.0, -0.0, 1e300, -1e17, 2.0**52 + 1, math.inf, -math.inf, math.nan, 0.0005, 2.675],
    ])
    for ndigits in (3, 4):
        got = rounded(values, ndigits)
        want = np.array([round(v, ndigits) for v in values.tolist()])
        assert got.tobytes() == want.tobytes()
