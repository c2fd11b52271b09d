"""A column of strings cut from its join is what numpy's conversion of each string gives,
and only columns where that holds are cut."""

from __future__ import annotations

import numpy as np
import pytest

from tapwatch.bytecolumns import PackedStrings, cut_from_joined, sorted_order, strings_at


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


def test_packed_strings_read_as_the_list_they_were_given() -> None:
    """Indexing (negative too, slices), iteration, length and equality as a list's; UTF-8
    and empty strings kept; appending while iterating allowed."""
    values = ["u1", "", "é-ü", "a\0b", "u1", "x" * 70]
    packed = PackedStrings(values[:2])
    packed.append(values[2])
    packed += values[3:5]
    packed.extend(iter(values[5:]))
    packed.extend([])
    assert len(packed) == len(values) and list(packed) == values and packed == values
    assert [packed[i] for i in range(-len(values), len(values))] == values + values
    assert packed[1:4] == values[1:4] and packed[::-2] == values[::-2]
    assert "é-ü" in packed and "é" not in packed
    for out_of_range in (len(values), -len(values) - 1):
        with pytest.raises(IndexError):
            packed[out_of_range]
    with pytest.raises(TypeError):
        packed["0"]  # type: ignore[call-overload]
    seen = []
    for v in packed:
        seen.append(v)
        packed.append("late")
    assert seen == values and len(packed) == 2 * len(values)
    assert PackedStrings(values) == PackedStrings(values) != PackedStrings(values[:-1])


@pytest.mark.parametrize(
    "batches",
    [
        [["p0002", "u0001"], ["p0001", "u0001", "d9999"]],  # one length (pseudonyms)
        [["ab", "cd"], ["e"], ["fg"]],  # one length, then not
        [["", ""], ["ab"]],  # empty strings, then one of two bytes
        [["a\0", "b\0"], ["\0\0"]],  # one length, with NULs numpy would drop
        [["éa", "bc"], ["设备"]],  # one length of characters, not of bytes
        [["é", "ab"]],  # one length of bytes, not ASCII
        [["b", "a", "ab", "", "é", "e"], ["ab", "x" * 70]],  # UTF-8, lengths
    ],
)
def test_strings_at_codes_are_the_lists(batches: list[list[str]]) -> None:
    """A packed table read at many codes at once (repeated, in any order) gives what the
    list of its strings gives, whatever the lengths and bytes, as it grows."""
    packed, values = PackedStrings(), []
    for batch in batches:
        packed.extend(batch)
        values += batch
        codes = np.array([*range(len(values) - 1, -1, -1), 0, len(values) - 1])
        want = [values[c] for c in codes.tolist()]
        assert packed.at(codes) == want
        assert strings_at(packed, codes) == want == strings_at(values, codes)
        assert packed.at(codes[:0]) == []
    for out_of_range in (len(values), -1):
        with pytest.raises(IndexError):
            packed.at(np.array([0, out_of_range]))


@pytest.mark.parametrize(
    "values",
    [
        ["p0002", "u0001", "p0001", "u0001", "d9999"],  # one length (pseudonyms)
        ["b", "a", "ab", "", "é", "e", "ab", "z"],  # lengths, UTF-8, equal strings
        ["a\0", "a", "a\0\0", ""],  # trailing NULs: sorted as strings
        [],
    ],
)
def test_sorted_order_is_pythons_sort_of_the_codes(values: list[str]) -> None:
    want = sorted(range(len(values)), key=values.__getitem__)
    assert sorted_order(PackedStrings(values)).tolist() == want
    assert sorted_order(values).tolist() == want
