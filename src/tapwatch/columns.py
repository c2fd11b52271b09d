"""A batch of accepted events as columns: what a page, a file chunk or a stored batch is.

The normaliser produces one `EventColumns` per page (decoded, validated and pseudonymised in
bulk); the store writes it as one row (`encode`), rolls it up with array operations, and the
detector windows are concatenations of stored batches (`tapwatch.window.EventWindow`). No
event is a Python object on that path; `to_events` makes them only for evidence pages.

String columns hold int32 codes (-1 = absent) into the batch's `strings` table, `account`
codes into `accounts` (pseudonyms); a column absent from every event of the batch is None.
Float columns hold NaN where absent. The event ids are strings, or (analyze's spilled
batches, whose ids end as a window's bytes anyway) one fixed-width "S" array of their UTF-8.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

import msgspec
import numpy as np

from tapwatch.events import Event, EventType

#: string-valued columns besides `account`, coded into `strings`
STR_COLUMNS = (
    "unit",
    "device",
    "device_model",
    "network",
    "point",
    "target",
    "content_hash",
    "photo_hash",
)
F64_COLUMNS = ("lat", "lon")
F32_COLUMNS = ("accuracy_m", "duration_s", "playback_rate", "position_s")
OPTIONAL_COLUMNS = STR_COLUMNS + F64_COLUMNS + F32_COLUMNS
#: a batch keeps every float as float64 (evidence pages show the values as sent); windows
#: narrow some to float32
_DTYPES: dict[str, Any] = {
    **dict.fromkeys(STR_COLUMNS, np.int32),
    **dict.fromkeys(F64_COLUMNS + F32_COLUMNS, np.float64),
}
_TYPES = list(EventType)
#: each optional column's type in a stored batch (little-endian)
_STORED = {k: np.dtype(v).newbyteorder("<") for k, v in _DTYPES.items()}
_I4 = np.dtype("<i4")


def absent_column(name: str, n: int) -> np.ndarray:
    """A column of n absent values: -1 codes, or NaN."""
    dtype = _DTYPES[name]
    return np.full(n, -1 if dtype is np.int32 else np.nan, dtype=dtype)


def code_map(values: Sequence[str], table: list[str], index: dict[str, int]) -> np.ndarray:
    """Codes of `values` in `table` (appending the missing ones, `index` kept in step), as
    an array indexed by the old code whose last slot maps -1 (absent) to -1. Known strings
    are looked up in C; Python runs only for the strings new to the table."""
    codes = list(map(index.get, values))
    if None in codes:
        for i in compress(range(len(codes)), map(operator.is_, codes, repeat(None))):
            v = values[i]
            c = index.setdefault(v, len(table))  # one probe; `values` may repeat a value
            if c == len(table):
                table.append(v)
            codes[i] = c
    codes.append(-1)
    return np.array(codes, dtype=np.int32)


@dataclass(slots=True)
class Tables:
    """Append-only string tables that windows and rollups built one after another share
    (analyze's sweep): a string keeps its code for good, so taking in new events costs
    their new strings only, never a rebuild of the tables."""

    accounts: list[str] = field(default_factory=list)
    account_index: dict[str, int] = field(default_factory=dict)
    strings: list[str] = field(default_factory=list)
    string_index: dict[str, int] = field(default_factory=dict)
    unindexed: bool = field(default=False, init=False, repr=False)  # see drop_index

    def drop_index(self) -> None:
        """Let the indexes go while the tables are only read (analyze's sweep, once the
        dump is read: the index of 400k strings is 25 MiB); `coded` builds them again if a
        batch with tables of its own comes after all."""
        self.account_index = {}
        self.string_index = {}
        self.unindexed = True

    def ensure_index(self) -> None:
        """The indexes again, if `drop_index` let them go (a string's first code)."""
        if self.unindexed:
            self.account_index = _first_codes(self.accounts)
            self.string_index = _first_codes(self.strings)
            self.unindexed = False

    def coded(self, batch: EventColumns) -> EventColumns:
        """The batch with its strings coded into these tables (a batch coded so already
        is returned as it is)."""
        if batch.accounts is self.accounts and batch.strings is self.strings:
            return batch
        if batch.accounts or batch.strings:  # else nothing to code (an empty batch)
            self.ensure_index()
        acc_map = code_map(batch.accounts, self.accounts, self.account_index)
        str_map = code_map(batch.strings, self.strings, self.string_index)
        return EventColumns(
            ids=batch.ids,
            ts=batch.ts,
            type=batch.type,
            account=acc_map[batch.account],
            accounts=self.accounts,
            strings=self.strings,
            optional={k: str_map[v] if k in STR_COLUMNS else v for k, v in batch.optional.items()},
        )


def _id_strings(ids: Sequence[str] | np.ndarray) -> Sequence[str]:
    """Event ids as strings (decoded if they are an "S" array of UTF-8)."""
    if isinstance(ids, np.ndarray):
        return [i.decode() for i in ids.tolist()]
    return ids


def _raw(column: np.ndarray, dtype: Any) -> memoryview:
    """A column's memory as `dtype` (a view when it is that already, contiguous)."""
    return memoryview(np.ascontiguousarray(column, dtype=dtype))


def _first_codes(table: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for code, value in enumerate(table):
        index.setdefault(value, code)
    return index


def _offset_map(offset: int, n: int) -> np.ndarray:
    """A code map shifting codes 0..n-1 by `offset` (-1 stays -1, in the last slot)."""
    out = np.arange(offset, offset + n + 1, dtype=np.int32)
    out[-1] = -1
    return out


class _Stored(msgspec.Struct, array_like=True):
    """One stored batch of the second format (TWC2: every column at its full width), read
    still: a store's older batches stay as they were written."""

    ids: list[str]
    ts: bytes
    type: bytes
    account: bytes
    accounts: list[str]
    strings: list[str]
    optional: dict[str, bytes]


class _Col(msgspec.Struct, array_like=True):
    """A stored code or float column (TWC3): its values as `dtype` (codes in the
    narrowest of int8, int16 and int32 that holds them), every row's or, with `at`, only
    those of the rows `at` names (uint16 positions in a batch of at most 65,536 events,
    else uint32); the other rows are absent (-1, or NaN of the canonical bits)."""

    dtype: str
    data: bytes
    at: bytes | None = None


class _Stored3(msgspec.Struct, array_like=True):
    """One stored batch (the body of an `event_batches` row), after the format magic:
    ids, times and types as they are, the code and float columns as `_Col`s."""

    ids: list[str]
    ts: bytes
    type: bytes
    account: _Col
    accounts: list[str]
    strings: list[str]
    optional: dict[str, _Col]


_MAGIC_V2 = b"TWC2"
_MAGIC = b"TWC3"
_stored_enc = msgspec.msgpack.Encoder()
_stored_dec = msgspec.msgpack.Decoder(_Stored)
_stored3_dec = msgspec.msgpack.Decoder(_Stored3)
#: what a stored column's values may be (anything else is a damaged body)
_COL_DTYPES = frozenset(("|i1", "<i2", "<i4", "<f8"))
_I1, _I2 = np.iinfo(np.int8), np.iinfo(np.int16)
_NAN_BITS = np.float64("nan").view(np.uint64)


def _packed(column: np.ndarray, dtype: np.dtype, n: int) -> _Col:
    """`column` (n values, stored as `dtype`, int32 or float64) as a `_Col`: codes
    narrowed to the width their range needs, and only the present values with their rows
    when that is fewer bytes (a column absent from most events)."""
    if dtype.kind == "f":
        values = np.ascontiguousarray(column, dtype=dtype)
        present = values.view(np.uint64) != _NAN_BITS
        narrow = dtype
    else:
        values = np.ascontiguousarray(column, dtype=dtype)
        lo, hi = (int(values.min()), int(values.max())) if n else (0, 0)
        if _I1.min <= lo and hi <= _I1.max:
            narrow = np.dtype("i1")
        elif _I2.min <= lo and hi <= _I2.max:
            narrow = np.dtype("<i2")
        else:
            narrow = dtype
        present = values != -1
    k = int(np.count_nonzero(present))
    at_size = 2 if n <= 1 << 16 else 4
    if k * (narrow.itemsize + at_size) < n * narrow.itemsize:
        rows = np.flatnonzero(present).astype(f"<u{at_size}")
        return _Col(narrow.str, memoryview(values[present].astype(narrow)), memoryview(rows))  # type: ignore[arg-type]
    data = values if narrow == dtype else values.astype(narrow)
    return _Col(narrow.str, memoryview(data))  # type: ignore[arg-type]


def _unpacked(col: _Col, dtype: np.dtype, n: int) -> np.ndarray:
    """A `_Col` back as n values of `dtype`."""
    if col.dtype not in _COL_DTYPES or (col.dtype == "<f8") != (dtype.kind == "f"):
        raise ValueError(f"a stored column of type {col.dtype!r}")
    values = np.frombuffer(col.data, dtype=col.dtype)
    if col.at is None:
        if len(values) != n:
            raise ValueError("a stored column of the wrong length")
        return values if values.dtype == dtype else values.astype(dtype)
    out = np.full(n, np.nan if dtype.kind == "f" else -1, dtype=dtype)
    out[np.frombuffer(col.at, dtype="<u2" if n <= 1 << 16 else "<u4")] = values
    return out


_legacy_dec = msgspec.msgpack.Decoder(list[Event])


@dataclass(slots=True)
class EventColumns:
    """Accepted events of one app as columns, in arrival order (see the module docstring)."""

    ids: list[str]  # or an "S" array of their UTF-8 (see the module docstring)
    ts: np.ndarray  # float64 epoch seconds
    type: np.ndarray  # uint8 EventType codes
    account: np.ndarray  # int32 codes into accounts
    accounts: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    #: optional columns present in at least one event: name -> array (codes or floats)
    optional: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> np.ndarray:
        """An optional column in full (absent values where the batch has none)."""
        col = self.optional.get(name)
        return absent_column(name, len(self)) if col is None else col

    @classmethod
    def empty(cls) -> EventColumns:
        return cls(
            ids=[],
            ts=np.zeros(0),
            type=np.zeros(0, dtype=np.uint8),
            account=np.zeros(0, dtype=np.int32),
        )

    def select(self, rows: np.ndarray, compact: bool = False) -> EventColumns:
        """The events at these row indices (or where a boolean mask is true). The tables
        are kept, or with `compact` cut to the strings those events use (for a part that
        outlives the rest: a spilled piece, the events left for later)."""
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        ids = self.ids
        out = EventColumns(
            ids=ids[rows] if isinstance(ids, np.ndarray) else [ids[i] for i in rows.tolist()],
            ts=self.ts[rows],
            type=self.type[rows],
            account=self.account[rows],
            accounts=self.accounts,
            strings=self.strings,
            optional={k: v[rows] for k, v in self.optional.items()},
        )
        return out.compacted() if compact else out

    def compacted(self) -> EventColumns:
        """The same events with tables holding only the strings they use."""
        used_acc, account = np.unique(self.account, return_inverse=True)
        codes = [v for k, v in self.optional.items() if k in STR_COLUMNS]
        used_str = np.unique(np.concatenate(codes)) if codes else np.zeros(0, dtype=np.int32)
        used_str = used_str[used_str >= 0]
        recode = np.full(len(self.strings) + 1, -1, dtype=np.int32)  # last slot: -1 stays
        recode[used_str] = np.arange(used_str.size, dtype=np.int32)
        return EventColumns(
            ids=self.ids,
            ts=self.ts,
            type=self.type,
            account=account.astype(np.int32),
            accounts=[self.accounts[i] for i in used_acc.tolist()],
            strings=[self.strings[i] for i in used_str.tolist()],
            optional={k: recode[v] if k in STR_COLUMNS else v for k, v in self.optional.items()},
        )

    @classmethod
    def concat(cls, batches: Sequence[EventColumns], dedup: bool = True) -> EventColumns:
        """One batch of these batches' events in order. Their tables are merged (each
        string once, even in a single batch), or with `dedup=False` appended one after the
        other (cheap, for a batch on its way to the store: a string may then have two
        codes, which the store's rollups add up and windows merge again; batches coded
        into the same Tables keep them)."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        if len(batches) == 1 and not dedup:
            return batches[0]
        first = batches[0]
        shared = all(b.accounts is first.accounts and b.strings is first.strings for b in batches)
        if shared and not dedup:
            return cls._concat_shared(batches)
        accounts: list[str] = []
        strings: list[str] = []
        acc_index: dict[str, int] = {}
        str_index: dict[str, int] = {}
        account_parts, opt_parts = [], {}
        names = {k for b in batches for k in b.optional}
        for b in batches:
            if dedup:
                acc_map = code_map(b.accounts, accounts, acc_index)
                str_map = code_map(b.strings, strings, str_index)
            else:
                acc_map = _offset_map(len(accounts), len(b.accounts))
                str_map = _offset_map(len(strings), len(b.strings))
                accounts += b.accounts
                strings += b.strings
            account_parts.append(acc_map[b.account])
            for name in names:
                col = b.optional.get(name)
                if col is None:
                    col = absent_column(name, len(b))
                elif name in STR_COLUMNS:
                    col = str_map[col]
                opt_parts.setdefault(name, []).append(col)
        return cls._joined(batches, account_parts, accounts, strings, opt_parts)

    @classmethod
    def _concat_shared(cls, batches: list[EventColumns]) -> EventColumns:
        """Batches coded into the same tables (Tables): their arrays, one after the other."""
        first = batches[0]
        names = {k for b in batches for k in b.optional}
        return cls._joined(
            batches,
            [b.account for b in batches],
            first.accounts,
            first.strings,
            {k: [b.column(k) for b in batches] for k in names},
        )

    @classmethod
    def _joined(
        cls,
        batches: list[EventColumns],
        account: list[np.ndarray],
        accounts: list[str],
        strings: list[str],
        optional: dict[str, list[np.ndarray]],
    ) -> EventColumns:
        ids: list[str] = []
        if all(isinstance(b.ids, np.ndarray) for b in batches):
            ids = np.concatenate([b.ids for b in batches])  # type: ignore[assignment]
        else:
            for b in batches:
                ids += _id_strings(b.ids)
        return cls(
            ids=ids,
            ts=np.concatenate([b.ts for b in batches]),
            type=np.concatenate([b.type for b in batches]),
            account=np.concatenate(account),
            accounts=accounts,
            strings=strings,
            optional={k: np.concatenate(v) for k, v in optional.items()},
        )

    # ---- storage -----------------------------------------------------------------

    def encode(self, tables: bool = True) -> bytearray:
        """The batch as one store row body (columns as raw little-endian arrays; the code
        columns as narrow as their codes allow, a column absent from most events as its
        values and their rows: `_Col`); without its string tables if `tables` is false (a
        batch coded into shared Tables, which the reader supplies again:
        `decode(body, tables)`).

        The arrays go to the encoder as views of their memory, and the body is written
        after the format magic in the buffer returned: no copy of a column, nor of the
        whole body (a batch of 5,000 events is ~0.5 MB; 0.14 -> 0.06 µs an event)."""
        # the encoder writes any buffer as msgpack bin, which the decoder reads as bytes
        n = len(self.ts)
        body = _Stored3(
            ids=_id_strings(self.ids),  # type: ignore[arg-type]
            ts=_raw(self.ts, "<f8"),  # type: ignore[arg-type]
            type=_raw(self.type, np.uint8),  # type: ignore[arg-type]
            account=_packed(self.account, _I4, n),
            accounts=self.accounts if tables else [],
            strings=self.strings if tables else [],
            optional={k: _packed(v, _STORED[k], n) for k, v in self.optional.items()},
        )
        out = bytearray(_MAGIC)
        _stored_enc.encode_into(body, out, len(_MAGIC))
        return out

    @classmethod
    def decode(cls, body: bytes, tables: Tables | None = None) -> EventColumns:
        """A stored batch (coded into `tables` if it was encoded without its own); bodies
        of the earlier formats (TWC2: every column at full width; the first: a msgpack
        list of events) are read as well, as a store keeps the batches it wrote then."""
        magic = bytes(body[:4])
        if magic == _MAGIC:
            s3 = _stored3_dec.decode(memoryview(body)[4:])
            ts = np.frombuffer(s3.ts, dtype="<f8")
            n = len(ts)
            return cls(
                ids=s3.ids,
                ts=ts,
                type=np.frombuffer(s3.type, dtype=np.uint8),
                account=_unpacked(s3.account, _I4, n),
                accounts=tables.accounts if tables is not None else s3.accounts,
                strings=tables.strings if tables is not None else s3.strings,
                optional={
                    k: _unpacked(v, _STORED[k], n) for k, v in s3.optional.items() if k in _STORED
                },
            )
        if magic != _MAGIC_V2:
            return cls.from_events(_legacy_dec.decode(body))
        s = _stored_dec.decode(memoryview(body)[4:])
        return cls(
            ids=s.ids,
            ts=np.frombuffer(s.ts, dtype="<f8"),
            type=np.frombuffer(s.type, dtype=np.uint8),
            account=np.frombuffer(s.account, dtype="<i4"),
            accounts=tables.accounts if tables is not None else s.accounts,
            strings=tables.strings if tables is not None else s.strings,
            optional={
                k: np.frombuffer(v, dtype=_STORED[k]) for k, v in s.optional.items() if k in _STORED
            },
        )

    # ---- events as objects (tests, evidence pages, the first store format) ----------

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> EventColumns:
        """Columns of already accepted events (kept in their order, duplicates too)."""
        events = list(events)
        accounts: list[str] = []
        acc_index: dict[str, int] = {}
        strings: list[str] = []
        str_index: dict[str, int] = {}

        def codes(values: list[str | None], table: list[str], index: dict[str, int]) -> np.ndarray:
            out = np.empty(len(values), dtype=np.int32)
            for i, v in enumerate(values):
                if v is None:
                    out[i] = -1
                    continue
                c = index.get(v)
                if c is None:
                    c = index[v] = len(table)
                    table.append(v)
                out[i] = c
            return out

        optional: dict[str, np.ndarray] = {}
        for name in OPTIONAL_COLUMNS:
            values = [getattr(e, name) for e in events]
            if all(v is None for v in values):
                continue
            if name in STR_COLUMNS:
                optional[name] = codes(values, strings, str_index)
            else:
                optional[name] = np.array(values, dtype=np.float64).astype(_DTYPES[name])
        return cls(
            ids=[e.id for e in events],
            ts=np.array([e.ts for e in events], dtype=np.float64),
            type=np.array([int(e.type) for e in events], dtype=np.uint8),
            account=codes([e.account for e in events], accounts, acc_index),
            accounts=accounts,
            strings=strings,
            optional=optional,
        )

    def to_events(self, app: str, rows: Iterable[int] | None = None) -> list[Event]:
        """The events at these rows (all by default) as Event records."""
        rows = range(len(self)) if rows is None else rows
        strings, opt, ids = self.strings, self.optional, _id_strings(self.ids)
        out = []
        for r in rows:
            values: dict[str, Any] = {}
            for name, col in opt.items():
                v = col[r]
                if name in STR_COLUMNS:
                    if v >= 0:
                        values[name] = strings[v]
                elif v == v:  # not NaN
                    values[name] = float(v)
            out.append(
                Event(
                    app=app,
                    id=ids[r],
                    ts=float(self.ts[r]),
                    type=_TYPES[self.type[r]],
                    account=self.accounts[self.account[r]],
                    **values,
                )
            )
        return out
