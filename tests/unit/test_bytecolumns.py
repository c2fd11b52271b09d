"""A column of strings cut from its join is what numpy's conversion of each string gives,
and only columns where that holds are cut."""

from __future__ import annotations

import numpy as np
import pytest

from tapwatch.bytecolumns import cut_from_joined


@pytest.mark.parametrize(
    "values",
    [
        ["u0000001", "u0000002", "x" * 8],
        ["2026-03-02T00:30:00+08:00"] * 3,
        ["a"],
        [" a", "b "],  # spaces are kept at both ends
    ],
)
def test_a_column_of_one_length_is_cut_as_numpy_converts_it(values: list[str]) -> None:
    got = cut_from_joined(values, "".join(values))
    want = np.array(values, dtype="S")
    assert got is not None and got.dtype == want.dtype
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["", ""],  # no width
        ["ab", "abc"],  # two lengths
        ["abc", "ab", "abcd"],  # two lengths, the join as long as one length would make
        ["ab", "é"],  # non-ASCII
        ["ab", "a\0"],  # numpy would drop the NUL
    ],
)
def test_other_columns_are_not_cut(values: list[str]) -> None:
    assert cut_from_joined(values, "".join(values)) is None
