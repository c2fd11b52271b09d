"""Reading dumps: JSONL or CSV files of usage-API-shaped events, a chunk at a time, into
validated, pseudonymised columns per app (the daemon's normaliser, with no clock but an
optional `--now`).

A JSONL block of several MB is decoded in one msgspec call; only a block holding a line
that is not exactly one well-formed event is decoded line by line, to reject just those.

Strings are coded once, straight into each app's shared string tables (`Tables`, which
the spill, the windows and the rollups use): a map from each raw id to its code replaces
the pseudonym cache, so an id's pseudonym is computed once, when it is first seen, and a
column of known ids is looked up in bulk (`coding.RawCodes`: a numpy hash table once the
map is big). The tables are packed (`bytecolumns.PackedStrings`: a dump's 400k ids as 9
MiB of bytes, not 32 MiB of Python strings) and not indexed: a value new to its column is
appended, so a string two columns send (or two raw ids' one pseudonym) is in a table
twice, and `DumpReader.first_codes` tells the codes to read such a string by once the
dump is read (the spill applies them). The maps go once the dump is read; the tables
stay.
"""

from __future__ import annotations

import csv
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tapwatch.analyze.coding import NEW, RawCodes, first_codes
from tapwatch.bytecolumns import PackedStrings
from tapwatch.columns import STR_COLUMNS, EventColumns, Tables
from tapwatch.events import EventRejected, WireEvent, decode_events, decode_jsonl, decode_wire
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.normalise import PSEUDONYMISED_COLUMNS, EventNormaliser, column_absent

#: bytes of JSONL decoded per call, events normalised per call (a block's ~2,300
#: check-ins in one slice, not 2,048 and a short rest), rows of CSV per chunk
BLOCK_BYTES = 2**19
SLICE = 4096
CSV_ROWS = 50_000
#: a dump has no clock: events up to this much after --now are accepted, as by the daemon
CLOCK_SKEW = 600.0
_APP = operator.attrgetter("app")


class TableCoder(EventNormaliser):
    """The daemon's normaliser (the same checks and reject counts) whose accepted columns
    are coded straight into the app's `Tables`, not into a table of their own."""

    def __init__(
        self, app_id: str, pseudonymizer: Pseudonymizer, now: float, tables: Tables
    ) -> None:
        super().__init__(app_id, pseudonymizer, now, CLOCK_SKEW, 0.0)
        self.tables = tables
        # raw value -> code in the tables, per column: a column of few values (device
        # models) keeps a small map, looked up by a dict, and a column of short ones
        # (points) a table of narrow keys, whatever the other columns hold
        self._codes: dict[str, RawCodes] = {f: RawCodes() for f in ("account", *STR_COLUMNS)}
        # the tables are not indexed (their own dicts stay empty; Tables builds them if it
        # must code a batch of its own)
        tables.drop_index()

    def forget_raw_ids(self) -> None:
        """Drop the maps from raw values to codes (a value seen again is appended again:
        `first_codes` maps it to its first code)."""
        for known in self._codes.values():
            known.clear()

    def _columns(
        self,
        cols: dict[str, Sequence[Any]],
        n: int,
        ts: np.ndarray,
        types: np.ndarray,
        floats: dict[str, np.ndarray],
    ) -> EventColumns:
        t = self.tables
        optional: dict[str, np.ndarray] = {}
        for f in STR_COLUMNS:
            col = cols[f]
            if not column_absent(col, n):
                optional[f] = self._code_into(col, f, PSEUDONYMISED_COLUMNS.get(f))
        optional.update(floats)
        return EventColumns(
            ids=cols["id"],  # type: ignore[arg-type]  # a tuple: read-only, as a list here
            ts=ts,
            type=types,
            account=self._code_into(cols["account"], "account", "account"),
            accounts=t.accounts,
            strings=t.strings,
            optional=optional,
        )

    def _code_into(
        self, col: Sequence[str | None], field: str, kind: str | None
    ) -> np.ndarray:
        """Codes of the column `field` in the tables (accounts for kind "account", else
        strings), the column looked up in bulk (RawCodes); Python runs only for the
        values new to the column (pseudonymised first if `kind` names a kind of id)."""
        known = self._codes[field]
        codes = known.codes(col)
        new = codes == NEW
        if not new.any():
            return codes
        rows = np.flatnonzero(new)
        new_raws = list(map(col.__getitem__, rows.tolist()))
        raws = list(dict.fromkeys(new_raws))
        values = self._p.uncached(kind, raws) if kind else raws  # type: ignore[arg-type]
        # appended without a look-up: a value may be in the table already (from another
        # column, or a collision of pseudonyms), which `first_codes` finds once at the end
        table = self.tables.accounts if kind == "account" else self.tables.strings
        start = len(table)
        table.extend(values)  # type: ignore[arg-type]
        added = np.arange(start, start + len(values), dtype=np.int32)
        if not self.tables.unindexed:
            # Tables built its dicts since (to code a batch of its own): they lack the
            # values just appended, so they go, and are built again if needed
            self.tables.drop_index()
        if len(raws) == len(new_raws):  # each new value once in the column (the usual)
            known.add_new(rows, raws, added)  # type: ignore[arg-type]
            codes[rows] = added
        else:
            known.add(raws, added.tolist())  # type: ignore[arg-type]
            fresh = dict(zip(raws, added.tolist(), strict=True))
            codes[rows] = list(map(fresh.__getitem__, new_raws))
        return codes


def new_tables() -> Tables:
    """Tables for one app's strings, packed (`PackedStrings`): a dump's 400k ids as
    bytes, not as Python strings."""
    return Tables(accounts=PackedStrings(), strings=PackedStrings())  # type: ignore[arg-type]


#: JSON's white space (and the newline): a line starting with one is blank or indented
_WHITE = np.zeros(256, dtype=bool)
_WHITE[[9, 10, 13, 32]] = True
#: anything but white space (bytes.isspace's: a block of only these is skipped)
_NON_WHITE = re.compile(rb"\S")


def _lines(block: bytes | memoryview) -> int | None:
    """Lines in a JSONL block (the last may lack its newline); None when one of them is
    blank or starts with white space. msgspec reads a block as a stream of values, so only
    in a block without such lines does "as many values as lines" mean one value a line (a
    line of two values would make up for a blank one); the others go line by line. On
    512 KiB: 74 µs, 24 of them finding the newlines (bytes.count takes 180, and `in` for
    each blank-line start over 1,500)."""
    b = np.frombuffer(block, dtype=np.uint8)
    newline = np.flatnonzero(b == 10)
    starts = newline + 1
    if starts.size and starts[-1] == b.size:
        starts = starts[:-1]
    if _WHITE[b[0]] or _WHITE[b[starts]].any():
        return None
    return newline.size + int(b[-1] != 10)


class AnalyzeError(Exception):
    """A problem with the dump or the command line, reported in one line."""


class DumpReader:
    """Turns dump files into (app, EventColumns) chunks, counting what it leaves out."""

    def __init__(
        self,
        pseudonymizer: Pseudonymizer,
        apps: set[str] | None,
        default_app: str | None,
        now: float | None,
        since: float | None = None,
        until: float | None = None,
    ) -> None:
        self.p = pseudonymizer
        self.apps = apps  # None: any app id found in the dump
        self.default_app = default_app
        self.now = now
        self.since = since
        self.until = until
        self.records = 0
        self.rejected: Counter[str] = Counter()
        self.unknown_apps: Counter[str] = Counter()
        self.out_of_range = 0  # events before --since or from --until on
        #: per app, the string tables its events are coded into
        self.tables: dict[str, Tables] = {}
        self._norms: dict[str, TableCoder] = {}

    def read(
        self, path: Path, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[tuple[str, EventColumns]]:
        """The file's events, per app, a chunk at a time; `progress(records, bytes read)`
        after each chunk."""
        chunks = self._csv(path) if path.suffix.lower() == ".csv" else self._jsonl(path)
        for n, done, by_app in chunks:
            self.records += n
            yield from by_app
            if progress is not None:
                progress(self.records, done)

    # ---- formats -----------------------------------------------------------------

    def _jsonl(self, path: Path) -> Iterator[tuple[int, int, list[tuple[str, EventColumns]]]]:
        """The file's blocks of whole lines, read into one buffer that is kept: each block
        is decoded where it was read (a view), and only the unfinished line after it moves
        to the buffer's front. Cutting each block out as bytes (the unfinished line before
        it added, the one after it cut off) made two fresh 512 KiB objects a block, each
        a new mapping whose pages fault in: 0.22 s of CPU over a 2M-event dump against 0.02."""
        buf = bytearray(2 * BLOCK_BYTES)
        have = 0  # bytes at the buffer's start: the last block's unfinished line
        with path.open("rb", buffering=0) as f:
            while True:
                if len(buf) - have < BLOCK_BYTES:  # a line longer than a block
                    buf.extend(bytes(have + BLOCK_BYTES - len(buf)))
                got = f.readinto(memoryview(buf)[have : have + BLOCK_BYTES])
                end = have + got
                cut = buf.rfind(b"\n", 0, end) + 1 if got else end
                if _NON_WHITE.search(buf, 0, cut):
                    # the view is gone when _block returns: the buffer may grow again
                    n, by_app = self._block(memoryview(buf)[:cut])
                    yield n, f.tell() - (end - cut), by_app
                buf[: end - cut] = buf[cut:end]
                have = end - cut
                if not got:
                    return

    def _block(self, block: memoryview) -> tuple[int, list[tuple[str, EventColumns]]]:
        """A block's records (how many) and its events per app."""
        n_lines = _lines(block)
        events = None if n_lines is None else decode_jsonl(block, n_lines)
        if events is None:  # blank or bad lines: line by line
            lines = [ln for ln in bytes(block).split(b"\n") if ln.strip()]
            events = decode_events(lines)
            if events is None:
                events = self._one_by_one(lines)
            n = len(lines)
        else:
            n = len(events)
        return n, self._by_app(events)

    def _one_by_one(self, lines: list[bytes]) -> list[WireEvent]:
        good = []
        for line in lines:
            try:
                good.append(decode_wire(line))
            except EventRejected as e:
                self.rejected[e.reason.value] += 1
        return good

    def _csv(self, path: Path) -> Iterator[tuple[int, int, list[tuple[str, EventColumns]]]]:
        with path.open("r", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            while True:
                rows = [row for _, row in zip(range(CSV_ROWS), reader, strict=False)]
                if not rows:
                    return
                groups: dict[str, list[dict[str, Any]]] = {}
                for row in rows:
                    groups.setdefault(self._app_of(row.get("app")), []).append(row)
                out = self._per_app(groups, EventNormaliser.from_rows)
                yield len(rows), f.buffer.tell(), out

    # ---- per app -------------------------------------------------------------------

    def _by_app(self, events: list[WireEvent]) -> list[tuple[str, EventColumns]]:
        if not events:
            return []
        apps = list(map(_APP, events))
        first = apps[0]
        if apps.count(first) == len(apps):
            groups = {self._app_of(first): events}
        else:
            groups = {}
            for app, e in zip(apps, events, strict=True):
                groups.setdefault(self._app_of(app), []).append(e)
        return self._per_app(groups, EventNormaliser.from_wire)

    def _per_app(
        self,
        groups: dict[str, list[Any]],
        normalise: Callable[[EventNormaliser, list[Any]], EventColumns],
    ) -> list[tuple[str, EventColumns]]:
        """Each app's records normalised (those of unknown apps counted and left out), in
        page-sized slices: the columns of a slice stay in the CPU's caches (a slice of
        35,000 events costs half as much again per event as 35 of 1,000)."""
        out = []
        for app_id, group in groups.items():
            norm = self._norm(app_id)
            if norm is None:
                self.unknown_apps[app_id] += len(group)
                continue
            for lo in range(0, len(group), SLICE):
                cols = self._kept(norm, normalise(norm, group[lo : lo + SLICE]))
                if len(cols):
                    out.append((app_id, cols))
        return out

    def _app_of(self, app: str | None) -> str:
        app_id = app or self.default_app
        if app_id is None:
            raise AnalyzeError("an event has no `app` field: give --app or a registry")
        return app_id

    def forget_raw_ids(self) -> None:
        """Drop the maps from raw ids to codes (the dump is read: the tables stay)."""
        for norm in self._norms.values():
            norm.forget_raw_ids()

    def first_codes(self) -> dict[str, tuple[np.ndarray | None, np.ndarray | None]]:
        """Per app whose tables hold a string twice (see the module docstring), the first
        code of each account code and of each string code (None: that table has no
        repeat); the chunks read so far name such a string by either code."""
        out = {}
        for app, tables in self.tables.items():
            accounts = first_codes(tables.accounts)  # type: ignore[arg-type]
            strings = first_codes(tables.strings)  # type: ignore[arg-type]
            if accounts is not None or strings is not None:
                out[app] = (accounts, strings)
        return out

    @property
    def apps_read(self) -> list[str]:
        """The apps of the registry (or any, without one) that the dump had records of."""
        return list(self._norms)

    def _norm(self, app_id: str) -> TableCoder | None:
        norm = self._norms.get(app_id)
        if norm is None:
            if self.apps is not None and app_id not in self.apps:
                return None
            now = self.now if self.now is not None else float("inf")
            tables = self.tables.setdefault(app_id, new_tables())
            norm = self._norms[app_id] = TableCoder(app_id, self.p, now, tables)
        return norm

    def _kept(self, norm: EventNormaliser, cols: EventColumns) -> EventColumns:
        """The accepted events within --since/--until; rejections counted."""
        self.rejected.update(norm.take_rejected())
        if (self.since is None and self.until is None) or not len(cols):
            return cols
        keep = (cols.ts >= (self.since if self.since is not None else -float("inf"))) & (
            cols.ts < (self.until if self.until is not None else float("inf"))
        )
        dropped = len(cols) - int(keep.sum())
        if dropped:
            self.out_of_range += dropped
            cols = cols.select(keep)
        return cols
