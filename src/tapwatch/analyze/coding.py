"""Raw string values to codes, a column at a time: the reader's map from each raw id (or
plain string) seen in the dump to its code in the app's string tables.

A `dict` probe per event is cheap while the map is small, and memory-bound once it holds
a dump's 200,000 accounts: a fresh key string, the dict's index, its entry and the stored
key are four cache misses, ~0.3-0.5 µs a lookup. Past `BIG` values the map moves into
a numpy open-addressing table: a column becomes one fixed-width bytes array, hashed with
array operations, its slots and keys gathered in bulk (the misses overlap), each key
compared in full (no hash is trusted). Values the table cannot hold exactly — with a NUL
(fixed-width bytes drop trailing NULs) or longer than `WIDE` bytes (they would widen
every key) — stay in a dict beside it.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from itertools import repeat

import numpy as np

from tapwatch.bytecolumns import PackedStrings, cut_from_joined
from tapwatch.sources.normalise import looked_up
from tapwatch.window import first_of_each

#: the code of a value not in the map
NEW = -2
#: values in a map before it moves from a dict into the numpy table
BIG = 256
#: longest value (UTF-8 bytes) the numpy table holds
WIDE = 64
_WORD = 8
#: keys left probing a long run of used slots, below which they go on one by one: each
#: further round of array operations costs ~10 µs however few keys it moves, and a
#: 200k-value table's lookups of 2,300 keys take 10-20 rounds, the last ones for a handful
_TAIL = 16
# odd multipliers, one per 8-byte word of a key: a zero word adds nothing, so a key's
# hash does not depend on the width of the array it is in
_MIX = np.array(
    [(0x9E3779B97F4A7C15 + 2 * k * 0xBF58476D1CE4E5B9) % 2**64 for k in range(WIDE // _WORD)],
    dtype=np.uint64,
)
_S1 = np.uint64(0xBF58476D1CE4E5B9)
_S2 = np.uint64(0x94D049BB133111EB)


def _hash(keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each key of a fixed-width bytes array ('S', width ≤ WIDE)."""
    width = -(-max(keys.dtype.itemsize, 1) // _WORD) * _WORD
    if keys.dtype.itemsize != width:
        keys = keys.astype(f"S{width}")
    words = np.ascontiguousarray(keys).view(np.uint64).reshape(len(keys), width // _WORD)
    with np.errstate(over="ignore"):
        h = words[:, 0] * _MIX[0]
        for j in range(1, width // _WORD):
            h += words[:, j] * _MIX[j]
        # splitmix64's finaliser: every bit of the sum reaches the low bits (the slot)
        h ^= h >> np.uint64(30)
        h *= _S1
        h ^= h >> np.uint64(27)
        h *= _S2
        h ^= h >> np.uint64(31)
    return h


def _as_bytes(values: Sequence[str | None]) -> np.ndarray:
    """UTF-8 bytes of each value as one fixed-width array (None as b"None": callers
    mask those rows)."""
    try:
        return np.array(values, dtype="S")  # ASCII: one C pass
    except UnicodeEncodeError:
        return np.array([b"None" if v is None else v.encode() for v in values], dtype="S")


def _odd(value: str) -> bool:
    """Whether the numpy table cannot hold this value exactly (kept in the dict beside)."""
    return "\0" in value or len(value.encode()) > WIDE


class _SmallMap(dict[str | None, int]):
    """A small map's dict: a value not in it is NEW (so that `looked_up` takes a column
    in one `itemgetter` call: 35-40 ns a fresh string, against 45-50 by `dict.get`)."""

    def __missing__(self, key: str | None) -> int:
        return NEW


class RawCodes:
    """A map from raw string values to int codes (≥ 0), looked up a column at a time."""

    def __init__(self, big: int = BIG) -> None:
        self._big = big
        self._small: _SmallMap | None = _SmallMap({None: -1})  # the map while small
        self._other: dict[str, int] = {}  # values the numpy table cannot hold
        self._n = 0  # values in the table
        # the table, by slot (a power of two of them, at most half used): the value in
        # each slot and its code (-1: a free slot), gathered side by side
        self._keys = np.zeros(0, dtype="S1")
        self._codes = np.zeros(0, dtype=np.int32)
        # the last column looked up: its keys, and where each new one's probing ended
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        if self._small is not None:
            return len(self._small) - 1
        return self._n + len(self._other)

    def clear(self) -> None:
        """Forget every value (the memory goes with it)."""
        self.__init__(self._big)  # type: ignore[misc]

    def codes(self, col: Sequence[str | None]) -> np.ndarray:
        """int32 code of each value: -1 for None, NEW for a value not in the map. The
        column's keys, and the free slot where each new one's look-up ended, are kept
        for `add_new` (only where every value is a plain key of the numpy table)."""
        n = len(col)
        self._last = None
        if self._small is not None:
            return looked_up(self._small, col)
        try:
            joined = "".join(col)  # type: ignore[arg-type]
            absent = None
        except TypeError:  # absent values
            joined = "".join(filter(None, col))  # type: ignore[arg-type]
            absent = np.fromiter(map(operator.is_, col, repeat(None)), dtype=bool, count=n)
        keys = cut_from_joined(col, joined) if absent is None else None  # type: ignore[arg-type]
        if keys is None:
            keys = _as_bytes(col)
        wide = keys.dtype.itemsize > WIDE
        plain = not wide and absent is None and "\0" not in joined
        stops = np.empty(n, dtype=np.intp) if plain and self._n else None
        # a value longer than WIDE is looked up cut short, then again below in full
        out = self._lookup(keys.astype(f"S{WIDE}") if wide else keys, stops)
        if stops is not None:
            self._last = (keys, stops)
        if wide or "\0" in joined:
            other = self._other
            for i, v in enumerate(col):
                if v is not None and _odd(v):
                    out[i] = other.get(v, NEW)
        if absent is not None:
            out[absent] = -1
        return out

    def add(self, values: list[str], codes: list[int]) -> None:
        """Put in these values (distinct, none in the map yet) with their codes."""
        if self._small is not None:
            self._small.update(zip(values, codes, strict=True))
            if len(self._small) > self._big:
                small, self._small = self._small, None
                del small[None]
                self.add(list(small), list(small.values()))  # type: ignore[arg-type]
            return
        joined = "".join(values)
        # cut from the join if of one length (new ids and pseudonyms are): 14 ns a value,
        # against 50 for numpy's conversion
        keys = cut_from_joined(values, joined)
        if keys is None:
            keys = _as_bytes(values)
        if keys.dtype.itemsize > WIDE or "\0" in joined:
            plain = [not _odd(v) for v in values]
            self._other.update(
                (v, c) for v, c, p in zip(values, codes, plain, strict=True) if not p
            )
            codes = [c for c, p in zip(codes, plain, strict=True) if p]
            keys = _as_bytes([v for v, p in zip(values, plain, strict=True) if p])
        if not codes:
            return
        new_codes = np.asarray(codes, dtype=np.int32)
        hi = self._n + len(new_codes)
        if 2 * hi > len(self._codes) or keys.dtype.itemsize > self._keys.dtype.itemsize:
            used = self._codes >= 0
            keys = np.concatenate([self._keys[used], keys])  # the wider of the two widths
            new_codes = np.concatenate([self._codes[used], new_codes])
            size = max(len(self._codes), 1 << max(2 * hi, 2047).bit_length())
            self._keys = np.zeros(size, dtype=keys.dtype)
            self._codes = np.full(size, -1, dtype=np.int32)
        self._place(keys, new_codes)
        self._n = hi

    def add_new(self, rows: np.ndarray, values: list[str], codes: np.ndarray) -> None:
        """`add` of the values at `rows` of the column last looked up by `codes` (each
        NEW there and distinct): their keys are the look-up's, and each is placed from
        the free slot its look-up ended at, not hashed, cut and probed again (a new id's
        insert cost as much as its look-up)."""
        last, self._last = self._last, None
        hi = self._n + len(rows)
        if last is None or 2 * hi > len(self._codes):  # the table grows: all placed anew
            self.add(values, codes.tolist())
            return
        keys, stops = last
        if keys.dtype.itemsize > self._keys.dtype.itemsize:
            self.add(values, codes.tolist())
            return
        self._place(keys[rows], codes, stops[rows])
        self._n = hi

    def _place(self, keys: np.ndarray, codes: np.ndarray, pos: np.ndarray | None = None) -> None:
        """Put the values into free slots (linear probing), all at once; `pos`: where
        each one's probing starts (its home slot, or a slot on its way from there)."""
        mask = len(self._codes) - 1
        if pos is None:
            pos = (_hash(keys) & np.uint64(mask)).astype(np.intp)
        rows = np.arange(len(keys))
        while rows.size > _TAIL:
            free = np.flatnonzero(self._codes[pos] < 0)
            # of the rows wanting one free slot, one takes it: each writes its mark (below
            # -1) into the slot and the one whose mark stays wins (a scatter, not a sort)
            slots = pos[free]
            marks = (-2 - free).astype(np.int32)
            self._codes[slots] = marks
            won = free[self._codes[slots] == marks]
            taken = pos[won]
            self._keys[taken] = keys[rows[won]]
            self._codes[taken] = codes[rows[won]]
            left = np.ones(rows.size, dtype=bool)
            left[won] = False
            rows, pos = rows[left], (pos[left] + 1) & mask
        table = self._codes
        for row, at in zip(rows.tolist(), pos.tolist(), strict=True):
            while table[at] >= 0:
                at = (at + 1) & mask
            self._keys[at] = keys[row]
            table[at] = codes[row]

    def _lookup(self, keys: np.ndarray, stops: np.ndarray | None = None) -> np.ndarray:
        """The codes of the keys (NEW: not in the table); `stops`, if given, receives the
        free slot at which each NEW key's probing ended."""
        if not self._n:
            return np.full(len(keys), NEW, dtype=np.int32)
        mask = len(self._codes) - 1
        pos = (_hash(keys) & np.uint64(mask)).astype(np.intp)
        if stops is not None:
            stops[:] = pos  # right for the keys whose home slot is free
        # the first probe of every key (most find theirs, or a free slot, there)
        code = self._codes[pos]
        used = code >= 0
        hit = used & (self._keys[pos] == keys)
        out = np.where(hit, code, np.int32(NEW))
        rows = np.flatnonzero(used & ~hit)
        pos = (pos[rows] + 1) & mask
        while rows.size > _TAIL:
            code = self._codes[pos]
            used = code >= 0
            hit = used & (self._keys[pos] == keys[rows])
            out[rows[hit]] = code[hit]
            if stops is not None:
                stops[rows[~used]] = pos[~used]
            more = used & ~hit
            rows, pos = rows[more], (pos[more] + 1) & mask
        table, stored = self._codes, self._keys
        for row, at in zip(rows.tolist(), pos.tolist(), strict=True):
            key = keys[row]
            while (code := int(table[at])) >= 0:
                if stored[at] == key:
                    out[row] = code
                    break
                at = (at + 1) & mask
            else:
                if stops is not None:
                    stops[row] = at
        return out


def first_codes(table: PackedStrings) -> np.ndarray | None:
    """Where a table holds a string more than once, the first code of each code's string
    (int32, one per code); None where every string is there once. The reader appends each
    column's new values without looking them up in the table (a column's raw map already
    tells a value new to that column), so a string is there twice only if two columns
    sent it (a point named as a device model), or two raw ids have one pseudonym. Found by
    a sort of 64-bit keys per length of string (`window.first_of_each`: 9 ms for 200k
    pseudonyms, where looking each new value up and indexing it cost ~1 µs); only a
    table with repeats is sorted as strings."""
    out = None
    for codes, keys in table.of_each_length():
        if first_of_each(keys).size == keys.size:
            continue
        if out is None:
            out = np.arange(len(table), dtype=np.int32)
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        out[codes] = codes[first[inverse.reshape(-1)]]
    return out
