"""Parts of analyze's sweep checked against the simple numpy calls they replace."""

from __future__ import annotations

import numpy as np
import pytest

from tapwatch.analyze.sweep import _append_days, _no_rows
from tapwatch.window import _HASH_STEP, AccountDays, first_of_each


def _firsts(ids: np.ndarray) -> list[int]:
    return sorted(np.unique(ids, return_index=True)[1].tolist())


@pytest.mark.parametrize("width", [1, 8, 10, 17, 36])
def test_first_of_each_is_uniques_first_index(width: int) -> None:
    """The first row of each distinct id, as `np.unique(..., return_index=True)`: ids of
    one word and of several, repeated many times, in no order; none and one."""
    rng = np.random.default_rng(width)
    alphabet = np.frombuffer(b"abcdefghij0123456789-", dtype=np.uint8)
    distinct = rng.choice(alphabet, (300, width)).view(f"S{width}").ravel()
    ids = distinct[rng.integers(0, distinct.size, 2_000)]
    assert sorted(first_of_each(ids).tolist()) == _firsts(ids)
    short = np.array([b"a", b"ab", b"a", b"abc", b"ab"], dtype=f"S{max(width, 3)}")
    assert sorted(first_of_each(short).tolist()) == [0, 1, 3]
    assert first_of_each(np.array([], dtype="S4")).size == 0
    assert first_of_each(ids[:1]).tolist() == [0]


def test_first_of_each_sorts_the_strings_when_two_ids_share_a_key() -> None:
    """Two distinct 16-byte ids made to mix into the same integer: still told apart."""
    w0 = np.array([0x6162636465666768], dtype=np.uint64)
    w1 = np.array([0x3031323334353637], dtype=np.uint64)
    w0b = w0 + np.uint64(1)
    w1b = (w0 * _HASH_STEP) ^ w1 ^ (w0b * _HASH_STEP)
    a = np.concatenate([w0, w1]).view("S16")
    b = np.concatenate([w0b, w1b]).view("S16")
    assert a[0] != b[0]
    ids = np.concatenate([a, b, a, b, a])
    assert sorted(first_of_each(ids).tolist()) == _firsts(ids) == [0, 1]


def _rows(day: int, n: int, read: int = 0) -> AccountDays:
    rows = [(day, a, 3, 0, 3, read, 0, 0, 0, 0.0, 3600.0 + a, 7200.0) for a in range(n)]
    return AccountDays.from_rows(rows, [f"u{a}" for a in range(n)])


def test_rollup_columns_of_zeros_are_held_without_memory_and_grow_when_not() -> None:
    """A column zero in every row appended so far is one zero seen n times (no memory,
    read-only); rows with a value in it make it a real column again, the values those of
    plain concatenation."""
    cols = _no_rows()
    steps = [_rows(100, 4), _rows(101, 3), _rows(102, 2, read=5), _rows(103, 2)]
    for step in steps[:2]:
        _append_days(cols, step)
    assert cols["read"].strides == (0,) and not cols["read"].flags.writeable
    assert cols["read"].dtype == np.int32 and cols["read"].tolist() == [0] * 7
    assert cols["events"].flags.writeable and cols["events"].tolist() == [3] * 7
    for step in steps[2:]:
        _append_days(cols, step)
    for f in AccountDays._COLUMNS:
        want = np.concatenate([getattr(s, f) for s in steps])
        assert cols[f].dtype == want.dtype and cols[f].tolist() == want.tolist(), f
    assert cols["read"].flags.writeable and cols["like"].strides == (0,)
