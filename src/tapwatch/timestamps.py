"""Event times in bulk: RFC 3339 strings and epoch numbers to epoch seconds, a column at a time.

The contract is RFC 3339 with an offset (or epoch seconds, or epoch milliseconds in `ts_ms`).
Parsing one string with `datetime.fromisoformat` costs about 0.5 µs; a page of them is parsed
here as a byte matrix with numpy instead. Only the canonical shape is taken on that fast path,

    YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)

and checked field by field (month, day of month with leap years, hour, minute, second, offset);
every other string (a space instead of `T`, seven fraction digits, a basic-format offset, a
bad date) goes to `parse_one`, which is `datetime.fromisoformat` as before. So the fast path
never accepts what the slow one would refuse, and gives the very same float: the whole
microseconds since the epoch divided by 10**6, as `datetime.timestamp()` computes it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from datetime import date, datetime

import numpy as np

from tapwatch.bytecolumns import cut_from_joined

#: Event times outside [2000-01-01, 2100-01-01) UTC are not plausible usage events: refused
#: (invalid_timestamp) before they can reach date arithmetic anywhere downstream.
TS_MIN = 946_684_800.0
TS_MAX = 4_102_444_800.0

_SHAPE_LEN = 19  # YYYY-MM-DDTHH:MM:SS
_MAX_FRACTION = 6
_SEPARATOR_AT = [4, 7, 10, 13, 16]
_SEPARATOR = np.frombuffer(b"--T::", dtype=np.uint8)
_DIGIT_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
#: digits (rows: positions 0..18) to year, month, day, hour, minute, second (columns)
_FIELD_WEIGHTS = np.zeros((_SHAPE_LEN, 6))
for _col, (_at, _digits) in enumerate(((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2))):
    _FIELD_WEIGHTS[_at : _at + _digits, _col] = 10.0 ** np.arange(_digits - 1, -1, -1)
#: the same transposed (fields are rows), plus a seventh: the seconds into the month, from
#: the day of the month (counted from 1) and the time of day. float32: every sum of
#: products is a whole number below 9 * 990,671 < 2**24, so exact in any order
_UNIFORM_WEIGHTS = np.ascontiguousarray(
    np.hstack([_FIELD_WEIGHTS, _FIELD_WEIGHTS[:, 2:] @ [[86400], [3600], [60], [1]]]).T,
    dtype=np.float32,
)
#: per character of YYYY-MM-DDTHH:MM:SS, the lowest byte allowed and how far above it:
#: '0' and 9 for a digit, the separator itself and 0 (one subtraction gives the digits and,
#: wrapping below the lowest, a value above the span wherever a character is wrong)
_LOWEST = np.full(_SHAPE_LEN, ord("0"), dtype=np.uint8)
_LOWEST[_SEPARATOR_AT] = _SEPARATOR
_SPAN = np.full(_SHAPE_LEN, 9, dtype=np.uint8)
_SPAN[_SEPARATOR_AT] = 0
_FRACTION_WEIGHTS = 10.0 ** np.arange(_MAX_FRACTION - 1, -1, -1)
#: the months the fast path knows (a time in 2000 .. 2100 UTC is in them, whatever its
#: offset): days since 1970-01-01 of each one's first day, and its length
_FIRST_YEAR, _LAST_YEAR = 1999, 2100
_MONTH_START = np.array(
    [
        (date(y, m, 1) - date(1970, 1, 1)).days
        for y in range(_FIRST_YEAR, _LAST_YEAR + 1)
        for m in range(1, 13)
    ],
    dtype=np.int64,
)
_MONTH_DAYS = np.diff(
    np.append(_MONTH_START, (date(_LAST_YEAR + 1, 1, 1) - date(1970, 1, 1)).days)
)


class TimeError(ValueError):
    """One time value that is not a valid event time (the message says why)."""


def parse_one(value: object, name: str = "ts", expected: str | None = None) -> float:
    """One time value (RFC 3339 string with an offset, or epoch seconds) to epoch seconds.
    Raises TimeError with a message fit for the log, naming the value `name` (and showing
    at most 40 characters of it); `expected`, if given, describes the format wanted (for a
    person typing an option)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TimeError(f"{name} must be a string or a number")
    if isinstance(value, str):
        shown = f"{name} {value[:40]!r}"
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise TimeError(
                f"{shown}: expected {expected}" if expected else f"{shown} is not RFC 3339"
            ) from None
        if dt.tzinfo is None:
            raise TimeError(
                f"{shown} needs a UTC offset ({expected})" if expected
                else f"{shown} has no UTC offset"
            )
        ts = dt.timestamp()
    else:
        ts = float(value)
    if not (math.isfinite(ts) and TS_MIN <= ts < TS_MAX):
        raise TimeError(f"{name} is outside 2000-01-01 .. 2100-01-01")
    return ts


def _fast_rfc3339(values: Sequence[str], joined: str | None = None) -> np.ndarray:
    """Epoch seconds of the strings in canonical RFC 3339 shape; NaN for the others.

    The strings become a byte matrix, one row each; the rows of one length share one
    layout (where the fraction and the offset sit), so each length is parsed with whole
    column slices and one matrix product for the six date and time fields: a few dozen
    array operations per length, whatever the number of strings. (numpy's own ISO 8601
    parser, `astype("datetime64[us]")`, is not used: numpy 2.4 crashes with a segmentation
    fault when it meets an invalid string in a long array.)

    `joined`: the strings joined, if the caller has them: strings of one length (the
    usual page) are then cut from it (tapwatch.bytecolumns)."""
    n = len(values)
    out = np.full(n, np.nan)
    one_width = cut_from_joined(values, joined) if joined is not None else None
    if one_width is not None:
        width = one_width.dtype.itemsize
        if width > _SHAPE_LEN:
            out[:] = _parse_layout(one_width.view(np.uint8).reshape(n, width))
        return out
    try:
        raw = np.array(values, dtype="S")
    except UnicodeEncodeError:  # a non-ASCII string somewhere: parse the ASCII ones
        ascii_rows = [i for i, v in enumerate(values) if v.isascii()]
        if ascii_rows:
            out[ascii_rows] = _fast_rfc3339([values[i] for i in ascii_rows])
        return out
    width = raw.dtype.itemsize
    if n == 0 or width < _SHAPE_LEN + 1:
        return out
    chars = raw.view(np.uint8).reshape(n, width)
    length = np.strings.str_len(raw)
    if length[0] == width and (length == width).all():  # one layout: the usual page
        out[:] = _parse_layout(chars)
        return out
    for size in np.unique(length).tolist():
        if size > _SHAPE_LEN:
            rows = np.flatnonzero(length == size)
            out[rows] = _parse_layout(chars[rows, :size])
    return out


def _parse_layout(chars: np.ndarray) -> np.ndarray:
    """Epoch seconds of rows of characters of one length (a uint8 matrix, one string a
    row, longer than 19), NaN where a row is not canonical RFC 3339."""
    uniform = _parse_uniform(chars)
    if uniform is not None:
        return uniform
    size = chars.shape[1]
    digits = chars[:, :_SHAPE_LEN] - np.uint8(48)  # 0..9 for digits, else wraps past 9
    ok = (digits[:, _DIGIT_AT] <= 9).all(axis=1)
    ok &= (chars[:, _SEPARATOR_AT] == _SEPARATOR).all(axis=1)
    # the six fields in one product (exact: small integers in float64)
    fields = (_FIELD_WEIGHTS.T @ digits.T.astype(np.float64)).astype(np.int64)
    year, month, day, hour, minute, second = fields
    ok &= (month >= 1) & (month <= 12) & (hour <= 23) & (minute <= 59) & (second <= 59)
    # the first day of the month from a table (years outside it go the slow way)
    at = (year - _FIRST_YEAR) * 12 + month - 1
    ok &= (at >= 0) & (at < _MONTH_START.size)
    at = np.where(ok, at, 0)
    ok &= (day >= 1) & (day <= _MONTH_DAYS[at])
    seconds = (_MONTH_START[at] + day - 1) * 86400 + hour * 3600 + minute * 60 + second
    # the tail: fraction then offset, 'Z' or '+HH:MM' / '-HH:MM'
    tail = size - _SHAPE_LEN
    zulu = chars[:, -1] == ord("Z")
    micros = np.where(zulu, _fraction(chars, tail - 1), -1)
    if tail >= 6:
        sign = chars[:, -6]
        off = chars[:, [-5, -4, -2, -1]] - np.uint8(48)
        numeric = ((sign == ord("+")) | (sign == ord("-"))) & (chars[:, -3] == ord(":"))
        numeric &= (off <= 9).all(axis=1)
        off = off.astype(np.int64)
        off_h, off_m = off[:, 0] * 10 + off[:, 1], off[:, 2] * 10 + off[:, 3]
        numeric &= (off_h <= 23) & (off_m <= 59)
        seconds -= np.where(numeric, np.where(sign == ord("-"), -60, 60) * (off_h * 60 + off_m), 0)
        micros = np.where(numeric, _fraction(chars, tail - 6), micros)
    ok &= micros >= 0
    return np.where(ok, (seconds * 1_000_000 + micros) / 1e6, np.nan)


def _parse_uniform(chars: np.ndarray) -> np.ndarray | None:
    """`_parse_layout` for the usual page, in a third of its array operations: every row
    valid, without a fraction, and with the same offset (or 'Z'). The checks are made on
    the whole page at once (their minimum and maximum); None if any row fails one, and
    `_parse_layout` then decides row by row. The same floats: whole seconds are exact."""
    n, size = chars.shape
    if n == 0:
        return None
    tail = bytes(chars[0, _SHAPE_LEN:])
    if tail == b"Z":
        offset = 0
    elif (
        size == _SHAPE_LEN + 6
        and tail[0] in b"+-"
        and tail[3:4] == b":"
        and tail[1:3].isdigit()
        and tail[4:6].isdigit()
        and int(tail[1:3]) <= 23
        and int(tail[4:6]) <= 59
    ):
        offset = (int(tail[1:3]) * 3600 + int(tail[4:6]) * 60) * (-1 if tail[0] == 45 else 1)
    else:
        return None
    if n > 1 and not (chars[1:, _SHAPE_LEN:] == chars[0, _SHAPE_LEN:]).all():
        return None
    # digits where digits belong (separators: 0, and weighed 0); any wrong character
    # comes out above its span
    digits = chars[:, :_SHAPE_LEN] - _LOWEST
    if not (digits <= _SPAN).all():
        return None
    # the fields as rows (7 x n, each contiguous: their minimum and maximum are fast)
    fields = (_UNIFORM_WEIGHTS @ digits.T.astype(np.float32)).astype(np.int64)
    low, high = fields.min(axis=1).tolist(), fields.max(axis=1).tolist()
    # month 1..12, day from 1, hour, minute and second in range (the day's end: below)
    if low[1] < 1 or high[1] > 12 or low[2] < 1 or high[3] > 23 or high[4] > 59 or high[5] > 59:
        return None
    at = (fields[0] - _FIRST_YEAR) * 12 + fields[1] - 1
    if low[0] < _FIRST_YEAR or high[0] > _LAST_YEAR or (fields[2] > _MONTH_DAYS[at]).any():
        return None
    return ((_MONTH_START[at] - 1) * 86400 + fields[6] - offset).astype(np.float64)


def _fraction(chars: np.ndarray, width: int) -> np.ndarray:
    """The microseconds of the fraction that takes `width` characters after the seconds,
    for every row; -1 where a row's fraction there is not valid (valid: nothing, or '.'
    and 1..6 digits)."""
    n = chars.shape[0]
    if width == 0:
        return np.zeros(n, dtype=np.int64)
    if not 2 <= width <= _MAX_FRACTION + 1:
        return np.full(n, -1, dtype=np.int64)
    digits = chars[:, _SHAPE_LEN + 1 : _SHAPE_LEN + width] - np.uint8(48)
    good = (chars[:, _SHAPE_LEN] == ord(".")) & (digits <= 9).all(axis=1)
    value = digits.astype(np.float64) @ _FRACTION_WEIGHTS[: width - 1]
    return np.where(good, value.astype(np.int64), -1)


def epoch_seconds(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """Event times of a column to epoch seconds, in bulk.

    Returns (seconds, absent): float64 seconds with NaN where a value is absent (None) or
    not a valid event time, and a bool mask of the absent ones. Strings are RFC 3339 with
    an offset, numbers epoch seconds; both within [TS_MIN, TS_MAX)."""
    n = len(values)
    try:  # a column of strings only (the usual one): joined, for the fast path
        joined: str | None = "".join(values)  # type: ignore[arg-type]
    except TypeError:
        joined = None
    kinds = {str} if joined is not None and n else set(map(type, values))
    absent = np.zeros(n, dtype=bool)
    if kinds <= {float, int}:
        out = np.array(values, dtype=np.float64) if n else np.zeros(0)
    elif kinds == {str}:
        out = _fast_rfc3339(values, joined)  # type: ignore[arg-type]
        for i in np.flatnonzero(np.isnan(out)).tolist():
            with contextlib.suppress(TimeError):  # stays NaN: not a valid time
                out[i] = parse_one(values[i])
    else:  # mixed column (absent values, numbers and strings, or junk): one by one
        out = np.full(n, np.nan)
        for i, v in enumerate(values):
            if v is None:
                absent[i] = True
                continue
            with contextlib.suppress(TimeError):
                out[i] = parse_one(v)
    with np.errstate(invalid="ignore"):
        out[~((out >= TS_MIN) & (out < TS_MAX))] = np.nan
    return out, absent


def epoch_milliseconds(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """`ts_ms` values (epoch milliseconds) to epoch seconds: (seconds with NaN where absent
    or invalid, absent mask)."""
    kinds = set(map(type, values))
    absent = np.zeros(len(values), dtype=bool)
    if kinds <= {float, int}:
        ms = np.array(values, dtype=np.float64) if values else np.zeros(0)
    else:
        ms = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if v is None:
                absent[i] = True
            elif isinstance(v, int | float) and not isinstance(v, bool):
                ms[i] = v
    out = ms / 1000.0
    with np.errstate(invalid="ignore"):
        out[~((out >= TS_MIN) & (out < TS_MAX))] = np.nan
    return out, absent
