"""String columns as fixed-width byte arrays (numpy "S"), in bulk: the timestamp parser's
byte matrix, analyze's coding of ids and the windows' event ids all start from one. And
string tables packed in one buffer (`PackedStrings`): analyze's tables of 400k ids.

numpy converts a list of strings one string at a time (~45 ns each); a column whose
strings are all of one length is cut from their join instead (~20 ns), the join being
what a caller makes anyway to learn that every value is a string.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np


def cut_from_joined(values: Sequence[str], joined: str) -> np.ndarray | None:
    """`values` (whose join is `joined`) as one "S" array cut from the join, if they are
    all of one length, ASCII and without NUL: then what `np.array(values, dtype="S")`
    gives (numpy drops trailing NULs, which is why a NUL goes the other way). None
    otherwise."""
    n = len(values)
    if not n or not joined.isascii() or "\0" in joined:
        return None
    width = len(values[0])
    if not width or len(joined) != n * width:
        return None
    # a list of the lengths counted: 10 ns a value, np.fromiter and a comparison 18-25
    # (a length up to 256 is a shared int object: `count` matches it by identity)
    if list(map(len, values)).count(width) != n:
        return None
    return np.frombuffer(joined.encode("ascii"), dtype=f"S{width}")


#: strings made at a time when a packed table is iterated
_CHUNK = 4096


class PackedStrings(Sequence[str]):
    """An append-only table of strings packed as UTF-8 in one buffer, with the end of
    each: what a list of them is to read (`len`, `table[code]`, iteration), at a fraction
    of its memory. A list of 400k pseudonyms (16 characters) holds as many `str` objects,
    72 bytes each in Python's allocator (29 MiB, and they pin the allocator's pools the
    reading's short-lived objects shared with them); packed they are 16 bytes and an
    8-byte offset each (9 MiB). Reading a string makes a `str` (~0.3 µs): for tables read
    by code here and there (a finding's names), not for a loop over every string per
    event; many codes at once are read by `at` (`strings_at`) at a fraction of that."""

    __slots__ = ("_buf", "_offsets", "_width")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._buf = bytearray()
        # where each string starts in _buf, and where the last ends: string i is
        # _buf[_offsets[i]:_offsets[i + 1]]
        self._offsets = array("q", [0])
        # the length in bytes every string has, if they all have one (-1: several): such
        # a table reads as a fixed-width array
        self._width = -1
        self.extend(values)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        # the hot path (an int in range) first and bare: ~0.3 µs, a list's is 15 ns
        offsets = self._offsets
        try:
            if i < 0:  # type: ignore[operator]
                i += len(offsets) - 1  # type: ignore[operator]
                if i < 0:
                    raise IndexError("string table index out of range")
        except TypeError:
            if isinstance(i, slice):
                return [self[j] for j in range(*i.indices(len(self)))]
            raise
        return self._buf[offsets[i] : offsets[i + 1]].decode()  # type: ignore[index,operator]

    def at(self, codes: np.ndarray) -> list[str]:
        """The strings of these codes (integers, each in range), as `[table[c] for c in
        codes]` gives them at a fifth of the cost where every string has one length (a
        fixed-width array's gather, made `str` by numpy), at half of it otherwise (the
        strings' bytes gathered in one call and decoded once, then cut)."""
        codes = np.asarray(codes, dtype=np.intp)
        if not codes.size:
            return []
        if int(codes.min()) < 0 or int(codes.max()) >= len(self):
            raise IndexError("string table index out of range")
        width = self._width
        if width > 0:
            fixed = np.frombuffer(self._buf, dtype=f"S{width}")[codes]
            raw = fixed.tobytes()
            # numpy's bytes-to-str conversion is ASCII, and drops trailing NULs
            if raw.isascii() and b"\0" not in raw:
                return fixed.astype(f"U{width}").tolist()  # type: ignore[no-any-return]
        offsets = np.frombuffer(self._offsets, dtype=np.int64)
        starts, lengths = offsets[codes], offsets[codes + 1] - offsets[codes]
        del offsets  # a view of the offsets: while it lives, they cannot grow
        ends = lengths.cumsum()
        begins = ends - lengths
        # every requested string's bytes in turn: the byte at k of the gather is at
        # k + (start - begin) of the string the k-th byte belongs to
        at = np.repeat(starts - begins, lengths)
        at += np.arange(at.size)
        joined = np.frombuffer(self._buf, dtype=np.uint8)[at].tobytes() if at.size else b""
        cuts = zip(begins.tolist(), ends.tolist(), strict=True)
        if joined.isascii():  # a character a byte
            text = joined.decode("ascii")
            return [text[b:e] for b, e in cuts]
        return [joined[b:e].decode() for b, e in cuts]

    def __iter__(self) -> Iterator[str]:
        # the strings there are now, read a chunk at a time (appending while iterating
        # stays allowed: a chunk is read whole before it is yielded)
        n = len(self)
        for lo in range(0, n, _CHUNK):
            yield from self.at(np.arange(lo, min(n, lo + _CHUNK)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedStrings):
            return self._buf == other._buf and self._offsets == other._offsets
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __repr__(self) -> str:
        return f"PackedStrings({list(self)!r})"

    def of_each_length(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """For each length in bytes the strings have: their codes (ascending) and their
        bytes as one fixed-width "S" array (the empty string as b"" of `S1`). Strings of
        one length are equal as "S" values exactly when their bytes are (a trailing NUL
        is not dropped from one and kept in the other). Where every string has one length
        the array is a view of the table's buffer: the table cannot grow while it is held."""
        if not len(self):
            return
        buf = np.frombuffer(self._buf, dtype=np.uint8)
        if self._width > 0:  # one length (pseudonyms): a plain view
            yield np.arange(len(self)), buf.view(f"S{self._width}")
            return
        offsets = np.frombuffer(self._offsets, dtype=np.int64)
        starts, lengths = offsets[:-1], np.diff(offsets)
        for width in np.unique(lengths).tolist():
            codes = np.flatnonzero(lengths == width)
            if not width:
                yield codes, np.zeros(codes.size, dtype="S1")
                continue
            at = starts[codes][:, None] + np.arange(width)
            yield codes, buf[at].view(f"S{width}").reshape(codes.size)

    def append(self, value: str) -> None:
        self.extend([value])

    def extend(self, values: Iterable[str]) -> None:
        values = values if isinstance(values, list) else list(values)
        if not values:
            return
        joined = "".join(values)
        if joined.isascii():  # one byte a character: the lengths are the strings'
            self._buf += joined.encode("ascii")
            lengths: Iterable[int] = map(len, values)
        else:
            encoded = [v.encode() for v in values]
            self._buf += b"".join(encoded)
            lengths = map(len, encoded)
        # the ends as one block of int64 (array.extend parses each int on its own)
        sizes = np.fromiter(lengths, dtype=np.int64, count=len(values))
        width = int(sizes[0])
        first = len(self._offsets) == 1
        same = (first or self._width == width) and bool((sizes == width).all())
        self._width = width if same else -1
        ends = sizes.cumsum()
        ends += self._offsets[-1]
        self._offsets.frombytes(ends.tobytes())

    def __iadd__(self, values: Iterable[str]) -> PackedStrings:
        self.extend(values)
        return self


def strings_at(table: Sequence[str], codes: np.ndarray) -> list[str]:
    """`[table[c] for c in codes]`, in bulk for a packed table (`PackedStrings.at`): for
    detectors that name many codes at once (a window's points, a month's accounts)."""
    if isinstance(table, PackedStrings):
        return table.at(codes)
    return [table[c] for c in np.asarray(codes).tolist()]


def sorted_order(table: Sequence[str]) -> np.ndarray:
    """The codes of a table's strings in the order of the strings (stable: equal strings
    by code), as `sorted(range(len(table)), key=table.__getitem__)` gives them. A packed
    table is sorted as bytes (UTF-8 keeps the order of code points) without making its
    strings, unless one holds a NUL (numpy's fixed-width bytes ignore trailing NULs)."""
    n = len(table)
    if isinstance(table, PackedStrings) and n and b"\0" not in table._buf:
        offsets = np.frombuffer(table._offsets, dtype=np.int64)
        starts, ends = offsets[:-1], offsets[1:]
        lengths = ends - starts
        width = int(lengths.max())
        buf = bytes(table._buf)
        if width and (lengths == width).all():  # one length (pseudonyms): a plain view
            keys = np.frombuffer(buf, dtype=f"S{width}")
        else:
            keys = np.array(
                [buf[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)],
                dtype="S",
            )
        return np.argsort(keys, kind="stable")
    return np.array(sorted(range(n), key=table.__getitem__), dtype=np.int64)
