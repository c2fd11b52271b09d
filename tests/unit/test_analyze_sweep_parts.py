"""Parts of analyze's sweep checked against the simple numpy calls they replace."""

from __future__ import annotations

import numpy as np
import pytest

from tapwatch.window import _HASH_STEP, first_of_each


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
