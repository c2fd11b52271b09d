"""Unsorted dumps: an external bucket sort by time.

Dumps come in any order (several files, exports per unit, a database's natural order).
Everything read is first written to a spill file on disk, cut into pieces of one UTC day
of one app (`EventColumns.encode`, about 60-100 bytes per event: codes into the app's
string tables, which stay in memory, and the event ids, as one block of fixed-width
UTF-8: the windows' form of them, made once, and no string per event to encode, decode
and free); the sweep then takes the days in
order and reads back only the pieces of the days it reaches. Memory holds one read
chunk while spilling and one window while judging, whatever the order or size of the dump;
disk holds the dump once, in columns. Sorted input costs the same path and never waits on
a sort of the whole.

A chunk's events of one day wait in memory, with those of the same day from the chunks
before, until the day has `PIECE_EVENTS` waiting (then they are written as one piece) or
`BUFFER_EVENTS` wait in all (then every day's are written, one piece each).
A shuffled dump's 512 KiB block holds a dozen events of each of 180 days: written as
they come, 2M events made 158k pieces, whose index (20 MiB) and decoding one by one (5 s
of the sweep) cost more than the events; buffered, a few thousand pieces.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np

from tapwatch.columns import STR_COLUMNS, EventColumns, Tables
from tapwatch.window import ids_as_bytes

BUCKET_S = 86400.0
#: a piece's head: the width of its ids and how many there are
_IDS = struct.Struct("<II")
#: events of one day written as a piece as soon as they wait; events waiting in all
#: before every waiting day is written (~6 MiB)
PIECE_EVENTS = 8_192
BUFFER_EVENTS = 65_536


class TimeSpill:
    """Pieces of (app, UTC day) columns in one append-only file, read back by day."""

    def __init__(self, directory: Path, tables: dict[str, Tables] | None = None) -> None:
        self.path = directory / "events.spill"
        self._file = self.path.open("w+b")
        self._end = 0
        self._index: dict[tuple[str, int], list[tuple[int, int]]] = {}
        #: per app, the string tables every piece of it is coded into (pieces are written
        #: without tables; the sweep's windows and rollups share these): the reader's
        self.tables: dict[str, Tables] = tables if tables is not None else {}
        self.events = 0
        self.bytes = 0
        self._waiting: dict[tuple[str, int], list[EventColumns]] = {}
        self._waiting_events = 0
        self.first_ts = float("inf")
        self.last_ts = float("-inf")
        #: per app whose tables hold a string twice, the first code of each account and
        #: string code (`DumpReader.first_codes`): pieces are read back by those
        self.first_codes: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def add(self, app: str, cols: EventColumns) -> None:
        """Spill one app's chunk, cut by UTC day."""
        if not len(cols):
            return
        cols = self.tables.setdefault(app, Tables()).coded(cols)
        cols = dataclasses.replace(cols, ids=ids_as_bytes(cols.ids))
        self.events += len(cols)
        self.first_ts = min(self.first_ts, float(cols.ts.min()))
        self.last_ts = max(self.last_ts, float(cols.ts.max()))
        day = np.floor(cols.ts / BUCKET_S).astype(np.int64)
        lo, hi = int(day.min()), int(day.max())
        if lo == hi:
            self._wait(app, lo, cols)
        else:
            order = np.argsort(day, kind="stable")
            sorted_days = day[order]
            cuts = np.flatnonzero(np.diff(sorted_days)) + 1
            for rows in np.split(order, cuts):
                self._wait(app, int(day[rows[0]]), cols.select(rows))
        if self._waiting_events >= BUFFER_EVENTS:
            self.flush()

    def _wait(self, app: str, bucket: int, cols: EventColumns) -> None:
        parts = self._waiting.setdefault((app, bucket), [])
        parts.append(cols)
        self._waiting_events += len(cols)
        waiting = sum(map(len, parts))
        if waiting >= PIECE_EVENTS:  # a sorted dump's day: written as it fills
            del self._waiting[app, bucket]
            self._waiting_events -= waiting
            self._write(app, bucket, EventColumns.concat(parts, dedup=False))

    def flush(self) -> None:
        """Write every waiting day, one piece each (in the order the days first came)."""
        waiting, self._waiting = self._waiting, {}
        self._waiting_events = 0
        for (app, bucket), parts in waiting.items():
            self._write(app, bucket, EventColumns.concat(parts, dedup=False))

    def _write(self, app: str, bucket: int, cols: EventColumns) -> None:
        ids = cols.ids
        assert isinstance(ids, np.ndarray)
        body = b"".join((
            _IDS.pack(ids.dtype.itemsize, len(ids)),
            ids.tobytes(),
            dataclasses.replace(cols, ids=[]).encode(tables=False),
        ))
        self._file.seek(self._end)
        self._file.write(body)
        self._index.setdefault((app, bucket), []).append((self._end, len(body)))
        self._end += len(body)
        self.bytes += len(body)

    def apps(self) -> list[str]:
        self.flush()
        return sorted({app for app, _ in self._index})

    def days(self) -> list[int]:
        """The UTC day numbers holding events, ascending."""
        self.flush()
        return sorted({day for _, day in self._index})

    def take(self, app: str, day: int) -> list[EventColumns]:
        """The app's pieces of one UTC day (each piece is read once: the index forgets it)."""
        self.flush()
        out = []
        first = self.first_codes.get(app)
        for offset, size in self._index.pop((app, day), []):
            self._file.seek(offset)
            piece = self._file.read(size)
            width, n = _IDS.unpack_from(piece)
            end = _IDS.size + width * n
            cols = EventColumns.decode(piece[end:], self.tables[app])
            cols.ids = np.frombuffer(piece, dtype=f"S{width}", count=n, offset=_IDS.size)
            out.append(cols if first is None else _by_first_codes(cols, *first))
        return out


def _by_first_codes(
    cols: EventColumns, accounts: np.ndarray | None, strings: np.ndarray | None
) -> EventColumns:
    """The columns with each code replaced by the first code of its string."""
    if accounts is not None:
        cols.account = accounts[cols.account]
    if strings is not None:
        by_code = np.append(strings, np.int32(-1))  # the last slot: -1 (absent) stays
        for name, col in cols.optional.items():
            if name in STR_COLUMNS:
                cols.optional[name] = by_code[col]
    return cols
