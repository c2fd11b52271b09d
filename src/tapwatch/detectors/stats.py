"""Statistics shared by the forced-usage detectors: local calendar arithmetic, grouped
order statistics, burstiness, bounded evidence and the score/confidence conventions.

Everything here is pure numpy over arrays; nothing reads the clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, timedelta
from itertools import chain
from zoneinfo import ZoneInfo

import numpy as np

from tapwatch.window import DAY, EventWindow, local_seconds

#: Evidence lists are bounded so a finding stays small; the total is reported beside them.
EVIDENCE_LIMIT = 500
#: A score at or above this is `critical`; any finding below it is a `warning`.
CRITICAL_SCORE = 0.75
_EPOCH = date(1970, 1, 1)


def local_day_and_second(ts: np.ndarray, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local day number (days since 1970-01-01 in app time) and seconds after local
    midnight, per timestamp."""
    local = local_seconds(ts, tz)
    days = np.floor(local / DAY)
    return days.astype(np.int64), local - days * DAY


def local_days(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """The local day numbers of `local_day_and_second`, without the seconds."""
    return np.floor(local_seconds(ts, tz) / DAY).astype(np.int64)


def local_midnight(tz: ZoneInfo, day: int) -> float:
    """Epoch seconds of the local midnight that starts local day `day` (using the UTC
    offset in force at that time)."""
    guess = np.array([day * DAY], dtype=np.float64)
    d, s = local_day_and_second(guess, tz)
    return float(guess[0] - s[0] + (day - d[0]) * DAY)


def day_to_date(day: int) -> date:
    """Local day number to a calendar date."""
    return _EPOCH + timedelta(days=int(day))


def date_to_day(d: date) -> int:
    """Calendar date to a local day number."""
    return (d - _EPOCH).days


def iso_week(day: int) -> str:
    """ISO week label such as `2026-W48`: the period key of weekly app-level findings, so
    a finding re-detected on each poll of the same week keeps its id."""
    y, w, _ = day_to_date(day).isocalendar()
    return f"{y}-W{w:02d}"


def grouped_median(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of `values` per integer group code in [0, n_groups); NaN for empty groups."""
    as_float = np.asarray(values, dtype=np.float64)
    return _grouped_median(groups, as_float, n_groups, own=as_float is not values)


def _grouped_median(
    groups: np.ndarray, values: np.ndarray, n_groups: int, own: bool
) -> np.ndarray:
    """`grouped_median` of float64 `values`; `own`: they are a copy of the caller's, whose
    memory the sort may take over."""
    out = np.full(n_groups, np.nan)
    if values.size == 0:
        return out
    v = _sorted_within_groups(groups, values, n_groups, own)
    counts = np.bincount(groups, minlength=n_groups)
    has = counts > 0
    ends = np.cumsum(counts)[has]
    counts = counts[has]
    # the middle rows of each group: in place, a few arrays of groups at a time
    start = ends - counts
    del ends
    lo = counts - 1
    lo //= 2
    lo += start
    hi = counts // 2
    hi += start
    del start, counts
    mid = v[lo]
    mid += v[hi]
    mid /= 2.0
    out[has] = mid
    return out


def _sorted_within_groups(
    groups: np.ndarray, values: np.ndarray, n_groups: int, own: bool = False
) -> np.ndarray:
    """`values` ordered by group, ascending within each group (NaN last), as
    `values[np.lexsort((values, groups))]`: one sort of the values with their group in
    the high bits where they fit (`_sorted_by_packed_key`), else a value's rank and its
    group make one integer key, and one sort of those keys is several times faster than
    lexsort. `own`: `values` may be overwritten."""
    packed = _sorted_by_packed_key(groups, values, n_groups, own)
    if packed is not None:
        return packed
    n = values.size
    if int(n_groups) * n >= 2**62:  # the key would overflow int64
        return values[np.lexsort((values, groups))]
    by_value = np.argsort(values)
    rank = np.empty(n, dtype=np.int64)
    rank[by_value] = np.arange(n, dtype=np.int64)
    key = groups.astype(np.int64) * n + rank
    key.sort()
    return values[by_value][key % n]


_SIGN = np.uint64(1 << 63)
#: rows a temporary array of the packed sort covers (its memory: 512 KiB, not the whole's)
_CHUNK = 1 << 16


def _sorted_by_packed_key(
    groups: np.ndarray, values: np.ndarray, n_groups: int, own: bool = False
) -> np.ndarray | None:
    """`values` (float64) ordered by group, ascending within each group, by one sort of
    uint64 keys: the group in the high bits, the value's bit pattern below it. The bits
    of a double with no sign bit order as the double does (+inf, then NaN, last), so the
    key orders exactly as (group, value) where no value has its sign bit set (negatives,
    -0.0) and the lowest bits, which the group takes, are zero in every value: those of
    float32 origin (a rollup's seconds) have 29 zero bits. None where that does not hold.
    One sort of the values themselves, not an argsort and a sort of ranks (4x faster).
    With `own`, the keys are made in the values' memory (checked first: untouched if
    None); temporaries are a chunk of rows each, so the sort holds the keys and no more."""
    group_bits = max(int(n_groups) - 1, 1).bit_length()
    if group_bits >= 64:
        return None
    shift = np.uint64(group_bits - 1)  # the sign bit, always 0, is the group's too
    as_float = np.ascontiguousarray(values, dtype=np.float64)
    own = own or as_float is not values  # a copy made here is ours
    bits = as_float.view(np.uint64)
    not_value = _SIGN | np.uint64((1 << int(shift)) - 1)
    n = bits.size
    if any(np.bitwise_and(bits[i : i + _CHUNK], not_value).any() for i in range(0, n, _CHUNK)):
        return None
    key = bits if own else np.empty(n, dtype=np.uint64)
    np.right_shift(bits, shift, out=key)
    to_top = np.uint64(64 - group_bits)
    for i in range(0, n, _CHUNK):
        key[i : i + _CHUNK] |= groups[i : i + _CHUNK].astype(np.uint64) << to_top
    key.sort()
    key <<= shift
    key &= ~_SIGN
    return key.view(np.float64)


def grouped_mad(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median absolute deviation per group, scaled by 1.4826 so it estimates the standard
    deviation of normally distributed values while ignoring a few outlier days."""
    med = grouped_median(groups, values, n_groups)
    if values.size == 0:
        return med
    dev = med[groups]  # |value - its group's median|, in place: no copy of the values
    np.subtract(values, dev, out=dev)
    np.abs(dev, out=dev)
    return 1.4826 * _grouped_median(groups, dev, n_groups, own=True)


def corrected_burstiness(mean: np.ndarray, std: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Burstiness of inter-event times with the finite-size correction.

    Goh & Barabási (2008) define B = (σ-μ)/(σ+μ): -1 for a clock, 0 for a Poisson process,
    towards +1 for bursty human activity. With few events B is biased towards -1, so we use
    Kim & Jo (2016): A_n = (√(n+1)·r − √(n−1)) / ((√(n+1) − 2)·r + √(n−1)), r = σ/μ, where
    n is the number of inter-event times and σ their population standard deviation (so
    r ≤ √(n−1) and A_n spans exactly [-1, 1]). NaN where μ is 0 or n < 3.
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    out = np.full(mean.shape, np.nan)
    ok = (mean > 0) & (n >= 3)
    r = std[ok] / mean[ok]
    a = np.sqrt(n[ok] + 1.0)
    b = np.sqrt(n[ok] - 1.0)
    out[ok] = (a * r - b) / ((a - 2.0) * r + b)
    return out


def rounded(values: np.ndarray, ndigits: int) -> np.ndarray:
    """`[round(v, ndigits) for v in values]` as float64: Python's round is exact (decimal)
    and slow, numpy's fast and exact except near a tie (its scaling by 10**ndigits errs by
    an ulp or so), so the values within a millionth of a tie, or huge, are rounded by
    Python."""
    values = np.asarray(values, dtype=np.float64)
    scale = 10.0**ndigits
    scaled = values * scale
    out = np.rint(scaled) / scale
    with np.errstate(invalid="ignore"):  # inf - inf: not near a tie, rint kept it
        frac = scaled - np.floor(scaled)
    risky = np.flatnonzero((np.abs(frac - 0.5) < 1e-6) | (np.abs(scaled) >= 2.0**50))
    for i in risky.tolist():
        out[i] = round(float(values[i]), ndigits)
    return out


def exceedance_score(value: float, threshold: float, full: float) -> float:
    """0.5 exactly at the threshold, rising linearly to 1.0 at `full` (which may lie below
    the threshold for "lower is worse" measures). Findings only exist past a threshold, so
    every finding scores at least 0.5 on the measure that raised it."""
    if full == threshold:
        return 1.0
    frac = (value - threshold) / (full - threshold)
    return float(np.clip(0.5 + 0.5 * frac, 0.0, 1.0))


def severity_for(score: float) -> str:
    """`critical` for strong signals, `warning` otherwise (info is for context findings)."""
    return "critical" if score >= CRITICAL_SCORE else "warning"


def data_confidence(*ratios: tuple[float, float]) -> float:
    """Confidence from the amount of data: the weakest of several `have / enough` ratios,
    each capped at 1."""
    vals = [min(1.0, have / enough) if enough > 0 else 1.0 for have, enough in ratios]
    return round(float(min(vals)) if vals else 0.0, 3)


def bounded_event_ids(win: EventWindow, rows: np.ndarray) -> dict[str, object]:
    """`event_ids` (the first EVIDENCE_LIMIT in time order) and `event_ids_total`."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    return {
        "event_ids": win.event_ids(rows[:EVIDENCE_LIMIT].tolist()),
        "event_ids_total": int(rows.size),
    }


def bounded_accounts(names: list[str], codes: np.ndarray) -> dict[str, object]:
    """Pseudonyms of the given account codes, sorted by pseudonym (never by activity, so the
    list is not a ranking), bounded, with `accounts_total`."""
    uniq = np.unique(np.asarray(codes, dtype=np.int64))
    pseudonyms = sorted(names[c] for c in uniq.tolist())
    return {"accounts": pseudonyms[:EVIDENCE_LIMIT], "accounts_total": len(pseudonyms)}


def histogram(values: np.ndarray, edges: list[float]) -> dict[str, list[float]]:
    """Counts of `values` in the bins between `edges` (the last edge may be inf)."""
    counts, _ = np.histogram(np.asarray(values, dtype=np.float64), bins=np.asarray(edges))
    return {"edges": [float(e) for e in edges], "counts": counts.astype(int).tolist()}


def group_time_keys(*pairs: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
    """Float keys that sort by group, then time, for (groups, times) pairs, so per-group
    searches and running maxima run over one flat array. All pairs share one origin and
    one group spacing (the overall time span plus a day), so keys from different pairs
    compare correctly; precision stays at milliseconds for windows of months and millions
    of accounts."""
    sized = [t for _, t in pairs if t.size]
    if not sized:
        return [np.zeros(0) for _ in pairs]
    lo = min(float(t.min()) for t in sized)
    hi = max(float(t.max()) for t in sized)
    spacing = hi - lo + DAY
    return [g.astype(np.float64) * spacing + (t - lo) for g, t in pairs]


def account_codes_by_name(names: list[str], wanted: set[str]) -> np.ndarray:
    """Codes of the pseudonyms in `wanted` within another coding (`names`): rollups and raw
    windows code accounts independently."""
    return np.array([i for i, a in enumerate(names) if a in wanted], dtype=np.int32)


def connected_groups(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components of the graph the pairs are the edges of: each sorted, in a
    stable order (union-find, so a large fleet's pairs cost little)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]  # halve the path
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    comps: dict[str, list[str]] = {}
    for x in sorted(parent):
        comps.setdefault(root(x), []).append(x)
    return sorted(comps.values())


#: pairs of sets counted at once (bounds the memory of a member of very many sets: each
#: pair costs some 60 bytes while it is counted)
_PAIR_CHUNK = 1 << 18
#: up to this many possible pairs, pairs are counted in one array (no sort)
_DENSE_PAIRS = 1 << 20


def _by_member(members: list[str], owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(member keys, owners) ordered by member, then owner (given ascending): a key per
    member equal for equal strings, its hash (computed in C, sorted as integers) or, where
    two distinct strings share a hash, a code in first-seen order. Only members that sit
    next to an equal hash are compared as strings, not every member put in a set."""
    key = np.fromiter(map(hash, members), dtype=np.int64, count=len(members))
    order = np.argsort(key, kind="stable")  # stable: owners stay ascending within a key
    key = key[order]
    twin = np.flatnonzero(key[1:] == key[:-1])
    pairs = zip(order[twin].tolist(), order[twin + 1].tolist(), strict=True)
    if any(members[a] != members[b] for a, b in pairs):
        seen: dict[str, int] = {}
        codes = np.fromiter(
            (seen.setdefault(m, len(seen)) for m in members), dtype=np.int64, count=len(members)
        )
        order = np.argsort(codes, kind="stable")
        key = codes[order]
    return key, owner[order]


def shared_member_counts(
    sets: Sequence[Collection[str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every two sets (by their index in `sets`) with a member in common: (first set,
    second set, members in both), first < second, in that order. Counted from an index of
    members as arrays, each member's sets giving their pairs: no set is intersected with
    another, and no matrix product (whose BLAS threads would spin on a busy machine)."""
    n_per_set = [len(x) for x in sets]
    owner = np.repeat(np.arange(len(sets), dtype=np.int64), n_per_set)
    # by member, then set: pairs come out (lower, higher)
    member, owner = _by_member(list(chain.from_iterable(sets)), owner)
    if owner.size < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    # each row pairs with the rows after it that hold the same member
    new = np.empty(owner.size, dtype=bool)
    new[0] = True
    np.not_equal(member[1:], member[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.repeat(np.append(starts[1:], owner.size), np.diff(np.append(starts, owner.size)))
    partners = ends - np.arange(owner.size) - 1
    n = len(sets)
    dense = np.zeros(n * n if n * n <= _DENSE_PAIRS else 0, dtype=np.int64)
    keys, counts = [], []
    rows = np.flatnonzero(partners)
    done = np.cumsum(partners[rows])
    lo = 0
    while lo < rows.size:
        # rows whose pairs fit in this chunk (at least one row, however many pairs it has)
        hi = max(lo + 1, int(np.searchsorted(done, (done[lo - 1] if lo else 0) + _PAIR_CHUNK,
                                             side="right")))
        r = rows[lo:hi]
        k = partners[r]
        i = np.repeat(r, k)
        offset = np.arange(i.size) - np.repeat(np.cumsum(k) - k, k)
        pair = owner[i] * n + owner[i + 1 + offset]
        if dense.size:
            dense += np.bincount(pair, minlength=dense.size)
        else:
            uk, c = np.unique(pair, return_counts=True)
            keys.append(uk)
            counts.append(c)
        lo = hi
    if dense.size:
        uk = np.flatnonzero(dense)
        return uk // n, uk % n, dense[uk]
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    uk, inv = np.unique(np.concatenate(keys), return_inverse=True)
    total = np.bincount(inv, weights=np.concatenate(counts)).astype(np.int64)
    return uk // n, uk % n, total


#: type code sets -> 256-entry membership table (detectors ask for the same few sets)
_TYPE_TABLES: dict[bytes, np.ndarray] = {}


def of_types(types: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """`np.isin(types, codes)` for uint8 event type codes, by one lookup in a table of all
    256 codes (no sort, no search)."""
    if types.dtype != np.uint8:
        return np.isin(types, codes)
    wanted = np.asarray(codes, dtype=np.int64)
    key = wanted.tobytes()
    table = _TYPE_TABLES.get(key)
    if table is None:
        table = np.zeros(256, dtype=bool)
        table[wanted[(wanted >= 0) & (wanted < 256)]] = True
        table.flags.writeable = False
        _TYPE_TABLES[key] = table
    return table[types]


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(np.stack((a, b)), axis=1, return_inverse=True)` of integer arrays (the
    inverse flat): the distinct (a, b) pairs in (a, b) order as a 2×k array, and each
    row's pair. Sorted as one integer key per pair, several times faster than the
    row-wise unique."""
    if a.size == 0:
        return np.stack((a, b)), np.zeros(0, dtype=np.int64)
    a_lo, b_lo = int(a.min()), int(b.min())
    span_a, span_b = int(a.max()) - a_lo + 1, int(b.max()) - b_lo + 1
    if span_a * span_b >= 2**62:  # the key would overflow int64
        pairs, inv = np.unique(np.stack((a, b)), axis=1, return_inverse=True)
        return pairs, inv.reshape(-1)
    key = (a.astype(np.int64) - a_lo) * span_b + (b.astype(np.int64) - b_lo)
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return np.stack((a[first], b[first])), inv.reshape(-1)


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """`np.unique(values)` of integers (the distinct values, ascending) by one sort and a
    comparison of neighbours (NaN, never equal to itself, would stay repeated): numpy 2's
    `np.unique` without return arguments goes through a hash table, 30x slower on a
    window's 78k int64 keys (9 ms against 0.3)."""
    out = np.sort(np.ravel(values))
    if out.size < 2:
        return out
    first = np.empty(out.size, dtype=bool)
    first[0] = True
    np.not_equal(out[1:], out[:-1], out=first[1:])
    return out[first]


def distinct_codes(codes: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of `codes`, each in [0, n), in ascending order and of the
    codes' dtype: `np.unique(codes)` by one count per code, no sort or hash table (on a
    window's million account-day rows, a tenth of the time)."""
    return np.flatnonzero(np.bincount(codes, minlength=n)).astype(codes.dtype, copy=False)


def count_distinct(codes: np.ndarray, n: int) -> int:
    """How many distinct values `codes` holds, each in [0, n) (account codes into a table
    of n): `np.unique(codes).size` by one count per code, no sort or hash table."""
    return int(np.count_nonzero(np.bincount(codes, minlength=n)))
