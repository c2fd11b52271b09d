"""Times parsed in bulk give exactly what one-by-one parsing gives, on canonical RFC 3339
and on everything around it."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from tapwatch.timestamps import TS_MAX, TS_MIN, TimeError, epoch_seconds, parse_one


def _one(v: object) -> float:
    try:
        return parse_one(v)
    except TimeError:
        return math.nan


def _random_times(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = rng.uniform(TS_MIN - 86400 * 30, TS_MAX + 86400 * 30)
        off = rng.choice([0, 8 * 3600, -5 * 3600, 5 * 3600 + 1800, 23 * 3600 + 59 * 60])
        dt = datetime.fromtimestamp(t, timezone(timedelta(seconds=off)))
        s = dt.strftime("%Y-%m-%dT%H:%M:%S")
        digits = rng.choice([0, 1, 2, 3, 6, 7])
        if digits:
            s += "." + f"{dt.microsecond:06d}{rng.randrange(10)}"[:digits]
        z = dt.strftime("%z")
        s += "Z" if off == 0 and rng.random() < 0.5 else f"{z[:3]}:{z[3:]}"
        r = rng.random()
        if r < 0.1:  # one character changed: most become invalid, some stay valid
            i = rng.randrange(len(s))
            s = s[:i] + rng.choice("0123456789-:T.Zz+ x") + s[i + 1 :]
        elif r < 0.15:
            s = s[: rng.randrange(len(s))]
        out.append(s)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_bulk_parsing_equals_one_by_one(seed: int) -> None:
    values = _random_times(20_000, seed)
    got, absent = epoch_seconds(values)
    want = np.array([_one(v) for v in values])
    assert not absent.any()
    assert np.array_equal(got, want, equal_nan=True)
    assert np.isfinite(got).sum() > 15_000  # mostly valid: the fast path was exercised


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-02T08:30:00+08:00", 1772411400.0),
        ("2026-03-02T00:30:00Z", 1772411400.0),
        ("2026-03-02T00:30:00.25Z", 1772411400.25),
        ("2026-03-02T00:30:00.1234567Z", 1772411400.123456),  # as fromisoformat: truncated
        ("2026-03-02 00:30:00Z", 1772411400.0),  # a space for T
        ("2024-02-29T00:00:00Z", 1709164800.0),  # a leap day
        ("2026-02-29T00:00:00Z", None),
        ("2026-03-02T24:00:00Z", None),
        ("2026-03-02T08:30:00", None),  # no offset
        ("2026-03-02T08:30:00+24:00", None),
        ("1999-12-31T23:59:59Z", None),  # before 2000
        ("２026-03-02T00:30:00Z", None),  # not ASCII
        (1772411400.5, 1772411400.5),
        (1e300, None),
        (-1, None),
        (True, None),
        (None, "absent"),
    ],
)
def test_one_value_alone_and_among_others(value: object, expected: object) -> None:
    column = [value, "2026-03-02T00:30:00Z", value]
    got, absent = epoch_seconds(column)
    if expected == "absent":
        assert absent.tolist() == [True, False, True]
    elif expected is None:
        assert np.isnan(got[0]) and np.isnan(got[2]) and got[1] == 1772411400.0
    else:
        assert got.tolist() == [expected, 1772411400.0, expected]


def test_canonical_times_are_parsed_in_bulk() -> None:
    """Every canonical layout (no fraction or 1..6 digits, 'Z' or a numeric offset, mixed
    in one column or alone) is answered by the bulk parser itself, not left to the
    one-by-one fallback, and equals the one-by-one result."""
    from tapwatch.timestamps import _fast_rfc3339

    base = ["2026-03-02T00:30:00", "2000-01-02T00:00:00", "2099-12-30T23:59:59"]
    fractions = ["", ".5", ".25", ".125", ".1234", ".12345", ".654321"]
    offsets = ["Z", "+08:00", "-05:30", "+00:00"]
    values = [b + f + o for b in base for f in fractions for o in offsets]
    want = [parse_one(v) for v in values]
    assert _fast_rfc3339(values).tolist() == want
    for v, w in zip(values, want, strict=True):  # each layout alone: one length a column
        assert _fast_rfc3339([v, v]).tolist() == [w, w]


def test_strings_of_one_length_cut_from_the_joined_column_parse_as_one_by_one() -> None:
    """The joined-column shortcut (strings of one length, ASCII, no NUL) gives what numpy's
    conversion of each string gives, bad strings included; columns it does not take (one
    string longer, non-ASCII, a NUL) go the other way with the same answers."""
    from tapwatch.timestamps import _fast_rfc3339

    good = ["2026-03-02T00:30:00+08:00", "2026-02-29T00:30:00+08:00", "2026-03-02T00:30:00Z"]
    columns = [
        good[:2],  # one length: cut from the joined string (the second is no date)
        [good[0]] * 3 + ["2026-03-02T00:30:00+8:00 "],  # one length, last one invalid
        good,  # two lengths
        [good[0], "2026-03-02T00:30:00+08:0\0"],  # a NUL: numpy drops trailing NULs
        [good[0], "2026-03-02T00:30:00+08：00"],  # non-ASCII
        ["2026-03-02T00:30:00"] * 2,  # no offset: too short for the fast path
    ]
    for col in columns:
        want = _fast_rfc3339(col)
        got = _fast_rfc3339(col, "".join(col))
        assert np.array_equal(got, want, equal_nan=True), col
    assert not np.isnan(_fast_rfc3339(good[:1] * 2, good[0] * 2)).any()


@pytest.mark.parametrize("offset", ["Z", "+08:00", "-05:30", "+23:59", "+00:00"])
def test_pages_of_one_offset_parse_as_one_by_one(offset: str) -> None:
    """The usual page (one offset, no fraction) takes a whole-page shortcut; a page with
    one bad or different row anywhere goes the row-by-row way; both give what one-by-one
    parsing gives, month ends, leap days and impossible dates included."""
    from tapwatch.timestamps import _parse_uniform

    rng = random.Random(offset)
    starts = ["2024-02-28T23:59:59", "2024-02-29T00:00:00", "2026-02-28T12:00:00",
              "2026-12-31T23:59:59", "2000-01-01T00:00:00", "2099-12-31T23:59:59"]
    stamps = starts + [
        datetime.fromtimestamp(rng.uniform(TS_MIN, TS_MAX), UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        for _ in range(994)
    ]
    page = [s + offset for s in stamps]
    want = [_one(v) for v in page]
    chars = np.frombuffer("".join(page).encode(), dtype=np.uint8).reshape(len(page), -1)
    assert _parse_uniform(chars) is not None  # the shortcut answers a clean page
    assert np.array_equal(epoch_seconds(page)[0], want, equal_nan=True)
    for bad in ["2026-02-29T00:00:00", "2026-04-31T00:00:00", "2026-13-01T00:00:00",
                "2026-00-10T00:00:00", "2026-01-00T00:00:00", "2026-01-01T24:00:00",
                "2026-01-01T00:60:00", "2026-01-01T00:00:60", "2026-01-01 00:00:00",
                "2026-01-01T0a:00:00", "2100-01-01T00:00:00",
                # a character just below or above what belongs there: a digit ('/', ':'),
                # a separator (',' and '.' around '-'; '9', ';' around ':'; 'S', 'U')
                "2026-01-01T00:/0:00", "2026-01-01T00:0::00", "2026,01-01T00:00:00",
                "2026-01.01T00:00:00", "2026-01-01T0009:00", "2026-01-01T00:00;00",
                "2026-01-01S00:00:00", "2026-01-01U00:00:00"]:
        other_offset = ("+01:00" if offset == "Z" else "Z ")[: len(offset)]
        for other in (bad + offset, stamps[7] + other_offset):
            col = list(page)
            col[rng.randrange(len(col))] = other
            want = np.array([_one(v) for v in col])
            assert np.array_equal(epoch_seconds(col)[0], want, equal_nan=True), other
