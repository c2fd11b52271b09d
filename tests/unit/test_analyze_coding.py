"""The reader's raw-value map (`RawCodes`) gives the codes a plain dict gives, small or
big, whatever the values: absent, empty, "None", non-ASCII, with NULs, long; the repeats
of a packed table (`first_codes`) are those a dict of first codes finds."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tapwatch.analyze.coding import NEW, WIDE, RawCodes, first_codes
from tapwatch.bytecolumns import PackedStrings

ODD_VALUES = [
    "", "None", "a", "a\0", "\0", "a\0b", "é", "设备-1", "x" * WIDE, "x" * (WIDE + 1),
    "é" * (WIDE // 2), "é" * (WIDE // 2 + 1), "y" * 256, "u1 ", " u1",
]


def by_dict(known: dict[str, int], col: list[str | None]) -> list[int]:
    """The simple implementation RawCodes replaces."""
    return [-1 if v is None else known.get(v, NEW) for v in col]


def code_columns(codes: RawCodes, columns: list[list[str | None]]) -> dict[str, int]:
    """Code each column, adding its new values as the reader does (`add_new` where each
    comes once in the column, from the look-up's keys and free slots; else `add`),
    checking every column's codes against a dict's."""
    known: dict[str, int] = {}
    for col in columns:
        got = codes.codes(col)
        assert got.dtype == np.int32
        assert got.tolist() == by_dict(known, col)
        rows = np.flatnonzero(got == NEW)
        new_values = [col[i] for i in rows.tolist()]
        new = list(dict.fromkeys(new_values))
        fresh = [len(known) * 3 + k for k in range(len(new))]  # codes need not be dense
        if len(new) == len(new_values):
            codes.add_new(rows, new, np.array(fresh, dtype=np.int32))  # type: ignore[arg-type]
        else:
            codes.add(new, fresh)  # type: ignore[arg-type]
        known.update(zip(new, fresh, strict=True))
        assert len(codes) == len(known)
        assert codes.codes(col).tolist() == by_dict(known, col)
    return known


@pytest.mark.parametrize("big", [0, 5, 10_000])
def test_codes_are_a_dicts_small_or_big(big: int) -> None:
    rng = random.Random(big)
    pool = [f"u{i:07d}" for i in range(3000)] + [f"dev-{i}" for i in range(500)] + ODD_VALUES
    columns: list[list[str | None]] = []
    for size in (1, 7, 300, 2048, 2048, 2048, 50):
        col: list[str | None] = [rng.choice(pool) for _ in range(size)]
        if size % 2 == 0:  # some columns with absent values
            for i in rng.sample(range(size), size // 10):
                col[i] = None
        columns.append(col)
    columns.append([f"u{i:07d}" for i in range(0, 3000, 3)])  # one length: cut from the join
    columns.append([None, None])
    # one length in characters, but with a NUL or not ASCII: not cut from the join
    columns.append(["a\0", "é1", "u2", "\0\0", "设备"])
    columns.append(list(ODD_VALUES))
    known = code_columns(RawCodes(big=big), columns)
    assert set(ODD_VALUES) <= set(known)


def test_the_table_grows_and_widens_without_losing_a_value() -> None:
    codes = RawCodes(big=0)
    columns: list[list[str | None]] = [[f"{i}"] for i in range(10)]  # one byte wide
    columns += [[f"{'w' * w}{i}" for i in range(1500)] for w in range(0, 40, 7)]
    columns.append([v for col in columns for v in col])  # every value again, at once
    code_columns(codes, columns)


def test_values_that_hash_to_one_slot_are_told_apart() -> None:
    codes = RawCodes(big=0)
    values = [f"k{i}" for i in range(5000)]  # 5,000 values in 32,768 slots: hundreds share one
    code_columns(codes, [values[:2500], values, values[::-1]])


def test_new_values_placed_from_their_look_up_are_found() -> None:
    """Columns of fresh ids (each once) and known ones, into a table dense enough that
    many probe past their home slot: placed from where their look-up stopped, every value
    is found again, and the one before it too."""
    codes = RawCodes(big=0)
    rng = random.Random(3)
    ids = [f"id{i:06d}" for i in range(40_000)]
    columns: list[list[str | None]] = []
    for lo in range(0, 40_000, 2_300):
        known_ids = rng.sample(ids[:lo], min(lo, 1_000))
        col: list[str | None] = [*ids[lo : lo + 2_300], *known_ids]
        rng.shuffle(col)
        columns.append(col)
    columns.append(list(ids))
    known = code_columns(codes, columns)
    assert len(known) == 40_000


def test_clear_forgets_every_value() -> None:
    codes = RawCodes(big=1)
    codes.add(["a", "b", "c"], [0, 1, 2])
    codes.clear()
    assert len(codes) == 0
    assert codes.codes(["a", None]).tolist() == [NEW, -1]


def first_by_dict(table: list[str]) -> list[int]:
    """The first code of each code's string, the plain way."""
    first: dict[str, int] = {}
    return [first.setdefault(v, code) for code, v in enumerate(table)]


@pytest.mark.parametrize("seed", range(6))
def test_first_codes_are_a_dicts(seed: int) -> None:
    """Repeats found in tables of one length (pseudonyms) and of many, with the odd values
    (empty, NULs, non-ASCII, one trailing NUL apart); None where every string is once."""
    rng = random.Random(seed)
    pool = ODD_VALUES + ["a\0\0", "\0\0"] + [f"{i:016x}" for i in range(2000)]
    if seed % 2:
        pool = [f"{i:016x}" for i in range(3000)]  # one length: the table is one view
    values = [rng.choice(pool) for _ in range(rng.randint(1, 2500))]
    table = PackedStrings(values)
    want = first_by_dict(values)
    got = first_codes(table)
    if want == list(range(len(values))):
        assert got is None
    else:
        assert got is not None and got.dtype == np.int32
        assert got.tolist() == want
    distinct = PackedStrings(dict.fromkeys(values))
    assert first_codes(distinct) is None
    assert first_codes(PackedStrings()) is None
