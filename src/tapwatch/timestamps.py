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
from datetime import datetime

import numpy as np

#: Event times outside [2000-01-01, 2100-01-01) UTC are not plausible usage events: refused
#: (invalid_timestamp) before they can reach date arithmetic anywhere downstream.
TS_MIN = 946_684_800.0
TS_MAX = 4_102_444_800.0

_SHAPE_LEN = 19  # YYYY-MM-DDTHH:MM:SS
_MAX_FRACTION = 6
_SEPARATORS = ((4, ord("-")), (7, ord("-")), (10, ord("T")), (13, ord(":")), (16, ord(":")))
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


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


def _fast_rfc3339(values: Sequence[str]) -> np.ndarray:
    """Epoch seconds of the strings in canonical RFC 3339 shape; NaN for the others.

    (numpy's own ISO 8601 parser, `astype("datetime64[us]")`, is not used: numpy 2.4 crashes
    with a segmentation fault when it meets an invalid string in a long array.)"""
    n = len(values)
    out = np.full(n, np.nan)
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
    # Each character position is read as a column over the events (a strided gather):
    # every step is a whole-column operation, and no big temporary is made.
    flat = raw.view(np.uint8)
    length = np.strings.str_len(raw).astype(np.int64)
    start = np.arange(n) * width

    def char(pos: int | np.ndarray) -> np.ndarray:
        return flat[start + pos]

    def number(*positions: int) -> tuple[np.ndarray, np.ndarray]:
        """The decimal number at these positions, and whether each is all digits."""
        digits = [char(pos) - np.uint8(48) for pos in positions]  # 0..9, else wraps > 9
        good = digits[0] <= 9
        value = digits[0].astype(np.int64)
        for dg in digits[1:]:
            good &= dg <= 9
            value = value * 10 + dg
        return value, good

    ok = length >= _SHAPE_LEN + 1
    for pos, ch in _SEPARATORS:
        ok &= char(pos) == ch
    fields = []
    for positions in ((0, 1, 2, 3), (5, 6), (8, 9), (11, 12), (14, 15), (17, 18)):
        value, good = number(*positions)
        ok &= good
        fields.append(value)
    year, month, day, hour, minute, second = fields
    ok &= (month >= 1) & (month <= 12) & (hour <= 23) & (minute <= 59) & (second <= 59)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    dim = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= (day >= 1) & (day <= dim) & (year >= 1)
    # the offset: 'Z', or '+HH:MM' / '-HH:MM' as the last six characters
    zulu = char(np.maximum(length - 1, 0)) == ord("Z")
    at = np.maximum(length - 6, 0)
    sign = char(at)
    off_h, good_h = number_at(flat, start + at, 1, 2)
    off_m, good_m = number_at(flat, start + at, 4, 5)
    numeric = ((sign == ord("+")) | (sign == ord("-"))) & (char(at + 3) == ord(":"))
    numeric &= good_h & good_m & (off_h <= 23) & (off_m <= 59)
    ok &= zulu | numeric
    offset = np.where(numeric, np.where(sign == ord("-"), -60, 60) * (off_h * 60 + off_m), 0)
    # the fraction: nothing, or '.' and 1..6 digits up to the offset
    frac_digits = length - np.where(zulu, 1, 6) - (_SHAPE_LEN + 1)
    has_frac = frac_digits >= 1
    ok &= (frac_digits == -1) | (
        (char(_SHAPE_LEN) == ord(".")) & has_frac & (frac_digits <= _MAX_FRACTION)
    )
    micros = np.zeros(n, dtype=np.int64)
    if has_frac.any():
        # positions past a row's string are NUL bytes (or the next row's, never used)
        for j in range(_MAX_FRACTION):
            used = j < frac_digits
            pos = np.minimum(_SHAPE_LEN + 1 + j, width - 1)
            digit = char(pos) - np.uint8(48)
            ok &= ~used | (digit <= 9)
            micros += np.where(used, digit, 0).astype(np.int64) * 10 ** (_MAX_FRACTION - 1 - j)
    # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    out[ok] = (seconds[ok] * 1_000_000 + micros[ok]) / 1e6
    return out


def number_at(
    flat: np.ndarray, base: np.ndarray, *positions: int
) -> tuple[np.ndarray, np.ndarray]:
    """The two-digit numbers at base + positions in a byte buffer, and whether each is
    made of digits."""
    digits = [flat[base + pos] - np.uint8(48) for pos in positions]
    value = digits[0].astype(np.int64) * 10 + digits[1]
    return value, (digits[0] <= 9) & (digits[1] <= 9)


def epoch_seconds(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """Event times of a column to epoch seconds, in bulk.

    Returns (seconds, absent): float64 seconds with NaN where a value is absent (None) or
    not a valid event time, and a bool mask of the absent ones. Strings are RFC 3339 with
    an offset, numbers epoch seconds; both within [TS_MIN, TS_MAX)."""
    n = len(values)
    kinds = set(map(type, values))
    absent = np.zeros(n, dtype=bool)
    if kinds <= {float, int}:
        out = np.array(values, dtype=np.float64) if n else np.zeros(0)
    elif kinds == {str}:
        out = _fast_rfc3339(values)  # type: ignore[arg-type]
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
