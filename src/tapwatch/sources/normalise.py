"""Event normalisation, a page at a time: raw usage-API-shaped records in, validated,
pseudonymised columns out (`EventColumns`), every rejected event counted by reason.

Every source adapter goes through `EventNormaliser`, whatever shape its records come in:

- `from_page` / `from_jsonl`: JSON bodies, decoded in one msgspec call for the whole page
  (per event only when one of them does not decode, to reject just that one);
- `from_rows`: mappings with the usage API's field names (CSV rows, adapters' dicts);
- `from_columns`: columns with those names (an adapter that has arrays already).

Then, on the columns: timestamps parsed in bulk (tapwatch.timestamps), the type name
looked up, numeric ranges, empty ids and lat-with-lon checked as array operations, clock
checks, and each distinct account, device and network id pseudonymised once per page.
No per-event Python runs unless an event is rejected or a column is of mixed types.

The per-value loops (the transposition, string coding, canonical RFC 3339 times, absent
columns) run in the C extension `_fastpage` where it is built; the Python code beside each
call is the reference, used when the module does not import or TAPWATCH_NATIVE=0, and for
any value the C code does not take (it then raises TypeError or leaves NaN). Both give the
same columns, codes and rejects (tests/unit/test_normalise_native.py).

A usage API page can skip msgspec's structs altogether: `decode_page` has the C extension
read the page's bytes straight into columns (`_fastpage.page`, only distinct strings made
objects) where it is the plainly common page, and `from_page` checks the rest of the rules
on those columns (`_from_native`); any page C declines, or with an event to reject, goes
the msgspec way above (tests/unit/test_fastpage_json.py).
"""

from __future__ import annotations

import gc
import logging
import os
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from typing import Any

import msgspec
import numpy as np

from tapwatch.columns import F32_COLUMNS, F64_COLUMNS, STR_COLUMNS, EventColumns
from tapwatch.events import (
    EVENT_TYPE_BY_NAME,
    ID_FIELDS,
    MAX_ID_LENGTH,
    MAX_STRING_LENGTH,
    NUMERIC_RANGES,
    REQUIRED_FIELDS,
    WIRE_FIELDS,
    EventRejected,
    EventType,
    Page,
    RejectReason,
    WireEvent,
    decode_events,
    decode_wire,
)
from tapwatch.events import decode_page as _decode_page
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.timestamps import TS_MAX, TS_MIN, TimeError, epoch_milliseconds, epoch_seconds
from tapwatch.timestamps import parse_one as parse_time

log = logging.getLogger("tapwatch.sources")


def _load_native() -> Any:
    """The C extension `_fastpage` (the per-value loops), or None: not built, not
    importable, or turned off with TAPWATCH_NATIVE=0. The Python path is the reference it
    must match."""
    if os.environ.get("TAPWATCH_NATIVE", "1").strip() == "0":
        return None
    try:
        from tapwatch.sources import _fastpage
    except ImportError as e:
        log.info("tapwatch.sources._fastpage not available (%s): normalising in Python", e)
        return None
    return _fastpage


#: the C extension when in use (tests set it to None to run the reference path)
native: Any = _load_native()

_astuple = msgspec.structs.astuple
_UNKNOWN_TYPE = 255


class _TypeCodes(dict[Any, int]):
    """Type name -> EventType code; _UNKNOWN_TYPE for any other value (a lookup that
    cannot fail, so a column is looked up in one `itemgetter` call)."""

    def __missing__(self, _name: Any) -> int:
        return _UNKNOWN_TYPE


_TYPE_CODE = _TypeCodes({name: int(t) for name, t in EVENT_TYPE_BY_NAME.items()})
#: string columns, other than the account, whose values are ids pseudonymised (by kind)
PSEUDONYMISED_COLUMNS = {"device": "device", "network": "network"}
#: struct's letter for each dtype `looked_up` fills
_PACKED = {np.int32: "i", np.uint8: "B"}
_STRING_FIELDS = ("id", "type", "account", "app", *STR_COLUMNS)
_FLOAT_COLUMNS = F64_COLUMNS + F32_COLUMNS
#: WireEvent's fields' member descriptors, in WIRE_FIELDS order (the C transposition's;
#: should a msgspec release keep fields otherwise, C refuses what is here: the zip path)
_SLOTS = tuple(WireEvent.__dict__.get(f) for f in WIRE_FIELDS)


class RejectLog:
    """Logs an app's rejected events once per state change: the first rejection of a reason
    (with one example), then nothing while it goes on, then once more when a poll that
    fetched events saw none of it. Counts go to metrics, not to the log."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.active: set[str] = set()
        self._seen: set[str] = set()
        self._events = 0

    def rejected(self, reason: str, count: int, detail: str) -> None:
        self._seen.add(reason)
        if reason not in self.active:
            self.active.add(reason)
            # details name fields and ranges, never an id: safe to log
            log.warning(
                "app %s: rejecting events (%s): %s (%d in this batch; counts in "
                "tapwatch_app_events_rejected_total)",
                self.app_id,
                reason,
                detail,
                count,
            )

    def fetched(self, n: int) -> None:
        self._events += n

    def poll_done(self) -> None:
        """End of a poll: reasons that no event of it had are cleared (if it had events)."""
        if self._events:
            for reason in sorted(self.active - self._seen):
                self.active.discard(reason)
                log.info("app %s: no more rejected events (%s)", self.app_id, reason)
        self._seen = set()
        self._events = 0


class EventNormaliser:
    """Turns one app's raw records into accepted `EventColumns`, counting each rejected
    event by reason (`take_rejected`) and logging through the app's `RejectLog`."""

    def __init__(
        self,
        app_id: str,
        pseudonymizer: Pseudonymizer,
        now: float,
        max_clock_skew: float,
        oldest_accepted: float,
        reject_log: RejectLog | None = None,
    ) -> None:
        self.app_id = app_id
        self._p = pseudonymizer
        self._latest = now + max_clock_skew
        self._oldest = oldest_accepted
        self.rejected: Counter[str] = Counter()
        self.log = reject_log or RejectLog(app_id)

    def take_rejected(self) -> Counter[str]:
        out, self.rejected = self.rejected, Counter()
        return out

    def _reject(self, reason: RejectReason, count: int, detail: str) -> None:
        if count:
            self.rejected[reason.value] += count
            self.log.rejected(reason.value, count, detail)

    # ---- entry points ------------------------------------------------------------

    def from_page(self, page: Page) -> EventColumns:
        """The events of a decoded usage API page."""
        if page.native is not None:
            out = self._from_native(page.native)
            if out is not None:
                return out
            # an event to reject (or an unknown type name): the reference path decides
            assert page.body is not None
            page = _decode_page(page.body)
        if page.events is not None:
            return self.from_wire(page.events)
        assert page.raw is not None
        return self.from_bodies(page.raw)

    def from_jsonl(self, lines: list[bytes]) -> EventColumns:
        """Events from JSONL lines (non-blank, one event each)."""
        events = decode_events(lines)
        if events is None:
            return self.from_bodies(lines)
        return self.from_wire(events)

    def from_bodies(self, bodies: Sequence[bytes | msgspec.Raw]) -> EventColumns:
        """Events from JSON bodies decoded one by one (a page where some do not decode)."""
        good: list[WireEvent] = []
        self.log.fetched(len(bodies))
        bad: dict[RejectReason, list[Any]] = {}  # reason -> [count, first detail]
        for raw in bodies:
            try:
                good.append(decode_wire(raw))
            except EventRejected as e:
                bad.setdefault(e.reason, [0, e.detail])[0] += 1
        for reason, (count, detail) in bad.items():
            self._reject(reason, count, detail)
        return self._accept(_wire_columns(good), len(good), typed=True, counted=True)

    def from_wire(self, events: Sequence[WireEvent]) -> EventColumns:
        """Events already decoded to WireEvent (types and lengths checked by msgspec)."""
        return self._accept(_wire_columns(events), len(events), typed=True)

    def from_rows(self, rows: Iterable[Mapping[str, Any]]) -> EventColumns:
        """Events from mappings with the usage API's field names. Empty strings and None
        mean absent; numbers may be given as strings (a CSV row)."""
        rows = list(rows)
        cols: dict[str, list[Any]] = {f: [None] * len(rows) for f in WIRE_FIELDS}
        for i, row in enumerate(rows):
            for k, v in row.items():
                col = cols.get(k) if isinstance(k, str) else None
                if col is not None and v is not None and v != "":
                    col[i] = v
        return self.from_columns(cols, text=True)

    def from_columns(
        self, columns: Mapping[str, Sequence[Any]], text: bool = False
    ) -> EventColumns:
        """Events from columns named as the usage API's fields (equal lengths; None is
        absent; unknown names are ignored). `text`: numbers may come as strings."""
        lengths = {len(v) for k, v in columns.items() if k in WIRE_FIELDS}
        if len(lengths) > 1:
            raise ValueError(f"columns of unequal lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        cols = {f: list(columns[f]) if f in columns else [None] * n for f in WIRE_FIELDS}
        return self._accept(cols, n, typed=False, text=text)

    def _from_native(self, got: tuple[Any, ...]) -> EventColumns | None:
        """The columns of a page `_fastpage.page` read (see `decode_page`), or None where
        an event of it breaks a rule `validate` checks (the reference path then, which
        counts and reports the rejects). What C has read already passes every rule of
        msgspec's and the empty-id and time rules; here the rest, as array operations:
        numeric ranges, type names, lat with lon, the clock. The result is what
        `from_wire` gives for the same page, column for column
        (tests/unit/test_fastpage_json.py)."""
        ids, ts_buf, strings, numbers = got[:4]
        n = len(ids)
        if n == 0:
            self.log.fetched(0)
            return EventColumns.empty()
        floats: dict[str, np.ndarray] = {}
        for f, buf in zip(_FLOAT_COLUMNS, numbers, strict=True):
            if buf is None:
                continue
            arr = np.frombuffer(buf, dtype=np.float64)
            if not all_in_range(arr, *NUMERIC_RANGES[f]):
                return None
            floats[f] = arr
        lat, lon = floats.get("lat"), floats.get("lon")
        if (lat is not None or lon is not None) and (
            lat is None or lon is None or (np.isnan(lat) != np.isnan(lon)).any()
        ):
            return None
        type_codes, type_names = strings[0]
        lookup = [_TYPE_CODE[name] for name in type_names]
        if _UNKNOWN_TYPE in lookup:
            return None
        ts = np.frombuffer(ts_buf, dtype=np.float64)
        if ts.max() > self._latest or ts.min() < self._oldest:
            return None
        self.log.fetched(n)
        types = np.array(lookup, dtype=np.uint8)[np.frombuffer(type_codes, dtype=np.int32)]
        account_codes, account_keys = strings[1]
        accounts = self._p.many("account", account_keys)
        table: list[str] = []
        optional: dict[str, np.ndarray] = {}
        for f, coded in zip(STR_COLUMNS, strings[2:], strict=True):
            if coded is not None:  # codes from len(table) already (C knows the order)
                codes, keys = coded
                kind = PSEUDONYMISED_COLUMNS.get(f)
                table += self._p.many(kind, keys) if kind else keys
                optional[f] = np.frombuffer(codes, dtype=np.int32)
        optional.update(floats)
        return EventColumns(
            ids=ids,
            ts=ts,
            type=types,
            account=np.frombuffer(account_codes, dtype=np.int32),
            accounts=accounts,
            strings=table,
            optional=optional,
        )

    # ---- the columns -------------------------------------------------------------

    def _accept(
        self,
        cols: dict[str, Sequence[Any]],
        n: int,
        *,
        typed: bool,
        text: bool = False,
        counted: bool = False,
    ) -> EventColumns:
        if not counted:
            self.log.fetched(n)
        if n == 0:
            return EventColumns.empty()
        v = validate(
            cols, n, self._reject, typed=typed, text=text, latest=self._latest, oldest=self._oldest
        )
        if v.ok.all():
            return self._columns(v.cols, n, v.ts, v.types, v.floats)
        keep = v.ok.tolist()
        n = int(v.ok.sum())
        if n == 0:
            return EventColumns.empty()
        return self._columns(
            {f: list(compress(c, keep)) for f, c in v.cols.items()},
            n,
            v.ts[v.ok],
            v.types[v.ok],
            {f: c[v.ok] for f, c in v.floats.items()},
        )

    def _columns(
        self,
        cols: dict[str, Sequence[Any]],
        n: int,
        ts: np.ndarray,
        types: np.ndarray,
        floats: dict[str, np.ndarray],
    ) -> EventColumns:
        """The accepted events as EventColumns: ids pseudonymised, strings coded."""
        accounts: list[str] = []
        account = self._coded(cols["account"], "account", accounts)
        strings: list[str] = []
        optional: dict[str, np.ndarray] = {}
        for f in STR_COLUMNS:
            col = cols[f]
            if not column_absent(col, n):
                optional[f] = self._coded(col, PSEUDONYMISED_COLUMNS.get(f), strings)
        optional.update(floats)
        return EventColumns(
            ids=cols["id"],
            ts=ts,
            type=types,
            account=account,
            accounts=accounts,
            strings=strings,
            optional=optional,
        )

    def _coded(self, col: Sequence[str | None], kind: str | None, table: list[str]) -> np.ndarray:
        """Codes of a string column: its distinct values (pseudonymised first if `kind`
        names a kind of id) are appended to `table`, which each column of a batch extends
        with its own values (a string two columns share is in it twice; codes stay unique
        within a column, which is what they are compared in). No loop in Python."""
        coded = _native_codes(col, len(table))
        if coded is not None:
            keys, out = coded
            table += self._p.many(kind, keys) if kind else keys
            return out
        codes: dict[Any, int] = dict.fromkeys(col)  # type: ignore[arg-type]
        # None only where the column has it: a dict of str keys alone is searched by
        # CPython's faster str-only lookup
        absent = None in codes
        if absent:
            del codes[None]
        keys = list(codes)
        table += self._p.many(kind, keys) if kind else keys
        codes.update(zip(keys, range(len(table) - len(keys), len(table)), strict=True))
        if absent:
            codes[None] = -1
        return looked_up(codes, col)


def decode_page(body: bytes) -> Page:
    """A page of `GET /v1/events` for `EventNormaliser.from_page`: read straight into
    columns by the C extension (`_fastpage.page`: only each column's distinct strings
    become Python objects) where it is the plainly common page; else, and where the
    extension is not in use, decoded by msgspec (tapwatch.events.decode_page, which
    raises for a bad envelope). Either way from_page gives the same columns and rejects."""
    if native is not None:
        got = native.page(body, TS_MIN, TS_MAX)
        if got is not None:
            return Page(
                events=None, raw=None, next_cursor=got[4], has_more=got[5], native=got, body=body
            )
    return _decode_page(body)


def looked_up(codes: Mapping[Any, int], col: Sequence[Any], dtype: Any = np.int32) -> np.ndarray:
    """`codes[v]` for each value of the column, as int32 or uint8 (each value must be a
    key, or `codes` answer it with `__missing__`).

    The values are fetched by one `itemgetter` call and written by `struct` straight into
    the array: 270 instructions a value, against 460 for `np.fromiter` over a `map` of
    lookups (which calls a bound method per value and converts each int on its own)."""
    n = len(col)
    out = np.empty(n, dtype=dtype)
    if n > 1:
        struct.pack_into(f"{n}{_PACKED[dtype]}", out, 0, *itemgetter(*col)(codes))
    elif n == 1:
        out[0] = codes[col[0]]
    return out


#: how `validate` reports rejected events: (reason, how many, one example's detail)
Reject = Callable[[RejectReason, int, str], None]
_RowReject = Callable[[RejectReason, np.ndarray, Callable[[int], str]], None]


@dataclass(slots=True)
class Validated:
    """Columns after validation: which events pass (`ok`), their times, type codes and
    numeric columns; `cols` are the input columns (wrong-typed values made None)."""

    ok: np.ndarray
    ts: np.ndarray
    types: np.ndarray
    floats: dict[str, np.ndarray]
    cols: dict[str, Sequence[Any]]


def validate(
    cols: dict[str, Sequence[Any]],
    n: int,
    on_reject: Reject,
    *,
    typed: bool,
    text: bool = False,
    latest: float = float("inf"),
    oldest: float = float("-inf"),
) -> Validated:
    """Check n events given as columns, with array operations. Each rejected event is
    reported once, for the first rule it breaks in this order: missing field, type, length
    (with `typed`, msgspec has checked these three while decoding), empty id, numeric
    range, time, type name, lat without lon, later than `latest`, older than `oldest`."""
    ok = np.ones(n, dtype=bool)

    def reject(reason: RejectReason, bad: np.ndarray, detail: Callable[[int], str]) -> None:
        if not bad.any():  # the usual answer, in one pass
            return
        bad = bad & ok
        count = int(bad.sum())
        if count:
            on_reject(reason, count, detail(int(np.argmax(bad))))
            ok[bad] = False

    if not typed:
        _check_types(cols, n, reject, text)
    floats = {f: _floats(cols[f]) for f in _FLOAT_COLUMNS if not column_absent(cols[f], n)}
    for f in ("id", "account"):
        col = cols[f]
        if "" in col:
            reject(
                RejectReason.invalid_value,
                np.array([v == "" for v in col]),
                lambda _i, f=f: f"{f} is empty",
            )
    for f, arr in floats.items():
        lo, hi, open_low = NUMERIC_RANGES[f]

        def outside(_i: int, f: str = f, lo: float = lo, hi: float = hi, o: bool = open_low) -> str:
            return f"{f} is outside {'(' if o else '['}{lo:g}, {hi:g}]"

        if all_in_range(arr, lo, hi, open_low):
            reject(RejectReason.invalid_value, _nan_values(cols[f], arr), outside)
            continue
        with np.errstate(invalid="ignore"):
            inside = ((arr > lo) if open_low else (arr >= lo)) & (arr <= hi)
        reject(
            RejectReason.invalid_value,
            (~inside & ~np.isnan(arr)) | _nan_values(cols[f], arr),
            outside,
        )
    ts = _times(cols, n, reject)
    types = _type_codes(cols["type"], n)
    reject(
        RejectReason.unknown_event_type,
        types == _UNKNOWN_TYPE,
        lambda i: f"type {str(cols['type'][i])[:40]!r} is unknown",
    )
    lat, lon = floats.get("lat"), floats.get("lon")
    if lat is not None or lon is not None:
        no_lat = np.isnan(lat) if lat is not None else np.ones(n, dtype=bool)
        no_lon = np.isnan(lon) if lon is not None else np.ones(n, dtype=bool)
        reject(
            RejectReason.invalid_value,
            no_lat != no_lon,
            lambda _i: "lat and lon must come together",
        )
    with np.errstate(invalid="ignore"):
        reject(
            RejectReason.future_timestamp,
            ts > latest,
            lambda _i: "ts is beyond the allowed clock skew",
        )
        reject(
            RejectReason.too_old, ts < oldest, lambda _i: "ts is older than the rollup retention"
        )
    return Validated(ok=ok, ts=ts, types=types, floats=floats, cols=cols)


def all_in_range(arr: np.ndarray, lo: float, hi: float, open_low: bool) -> bool:
    """Whether every value of a float column is within its range (NaN, absent, left out;
    False when all are NaN): the smallest and largest value in range make every value so,
    with no comparison per value."""
    least, most = np.fmin.reduce(arr), np.fmax.reduce(arr)
    return bool(((least > lo) if open_low else (least >= lo)) and most <= hi)


def check_event(raw: bytes | msgspec.Raw) -> tuple[WireEvent, float, EventType]:
    """Decode and validate one event body alone, by the same rules as a page (without the
    clock checks): (the event, its epoch seconds, its type). Raises EventRejected."""
    w = decode_wire(raw)

    def refuse(reason: RejectReason, _count: int, detail: str) -> None:
        raise EventRejected(reason, detail)

    v = validate(_wire_columns([w]), 1, refuse, typed=True)
    return w, float(v.ts[0]), EventType(int(v.types[0]))


def _check_types(
    cols: dict[str, Sequence[Any]],
    n: int,
    reject: _RowReject,
    text: bool,
) -> None:
    """What msgspec checks while decoding JSON, for columns given as such: required
    fields, types (numbers may be strings with `text`), string lengths."""
    for f in REQUIRED_FIELDS:
        col = cols[f]
        if None in col:
            reject(
                RejectReason.missing_field,
                np.array([v is None for v in col]),
                lambda _i, f=f: f"Object missing required field `{f}`",
            )
    for f in _STRING_FIELDS:
        col = cols[f]
        if not set(map(type, col)) <= {str, type(None)}:
            reject(
                RejectReason.invalid_type,
                np.array([not (v is None or isinstance(v, str)) for v in col]),
                lambda _i, f=f: f"Expected `str | null` - at `$.{f}`",
            )
    for f in (*_FLOAT_COLUMNS, "ts_ms"):
        col = cols[f]
        if text:
            col = cols[f] = [_number(v) for v in col]
        bad = [not (v is None or _is_number(v)) for v in col]
        if any(bad):
            reject(
                RejectReason.invalid_type,
                np.array(bad),
                lambda _i, f=f: f"Expected `float | null` - at `$.{f}`",
            )
            cols[f] = [None if b else v for v, b in zip(col, bad, strict=True)]
    ts = cols["ts"]
    if text:
        ts = cols["ts"] = [_number(v) if _looks_numeric(v) else v for v in ts]
    bad = [not (v is None or isinstance(v, str) or _is_number(v)) for v in ts]
    if any(bad):
        reject(
            RejectReason.invalid_type,
            np.array(bad),
            lambda _i: "Expected `str | float | null` - at `$.ts`",
        )
    for f in _STRING_FIELDS:
        limit = MAX_ID_LENGTH if f in ID_FIELDS else MAX_STRING_LENGTH
        lengths = np.fromiter(
            (len(v) if isinstance(v, str) else 0 for v in cols[f]), dtype=np.int64, count=n
        )
        reject(
            RejectReason.too_long,
            lengths > limit,
            lambda _i, f=f, limit=limit: f"Expected `str` of length <= {limit} - at `$.{f}`",
        )
    # a column that failed its type check must not reach the steps below
    for f in _STRING_FIELDS:
        cols[f] = [v if isinstance(v, str) else None for v in cols[f]]


def _times(
    cols: dict[str, Sequence[Any]],
    n: int,
    reject: _RowReject,
) -> np.ndarray:
    """Epoch seconds of each event: `ts_ms` where given, else `ts`."""
    ms_col, ts_col = cols["ts_ms"], cols["ts"]
    if not column_absent(ms_col, n):
        ts, absent = epoch_milliseconds(ms_col)
        if absent.any():
            rows = np.flatnonzero(absent)
            ts[rows], absent[rows] = epoch_seconds([ts_col[i] for i in rows.tolist()])
    elif native is not None:
        # canonical RFC 3339 strings in C; every other value the reference way
        ts, absent = np.empty(n), np.zeros(n, dtype=bool)
        native.rfc3339(ts_col, ts, TS_MIN, TS_MAX)
        rows = np.flatnonzero(np.isnan(ts))
        if len(rows):
            ts[rows], absent[rows] = epoch_seconds([ts_col[i] for i in rows.tolist()])
    else:
        ts, absent = epoch_seconds(ts_col)
    reject(
        RejectReason.missing_field,
        absent,
        lambda _i: "Object missing required field `ts` (or `ts_ms`)",
    )

    def why(i: int) -> str:
        if ms_col[i] is not None:
            return f"ts_ms is outside {TS_MIN * 1000:.0f} .. {TS_MAX * 1000:.0f}"
        try:
            parse_time(ts_col[i])
        except TimeError as e:
            return str(e)
        return "ts is not a valid time"

    reject(RejectReason.invalid_timestamp, np.isnan(ts), why)
    return ts


def _wire_columns(events: Sequence[WireEvent]) -> dict[str, Sequence[Any]]:
    """The events' fields as columns (tuples), transposed in C (by `_fastpage.transpose`
    where it is in use, else as follows).

    The transposition makes a tuple per event, freed again as soon as it is done; left
    on, the cyclic garbage collector would count them and run about twice a page (and
    its older generations in turn) for nothing: 0.1-0.2 µs an event. It is held off for
    that one C call (no Python code, so no other thread, runs inside it)."""
    if not events:
        return {f: () for f in WIRE_FIELDS}
    if native is not None and type(events) is list:
        try:  # each field read from its slot: no tuple per event, nothing for the GC
            return dict(zip(WIRE_FIELDS, native.transpose(events, WireEvent, _SLOTS), strict=True))
        except TypeError:  # not all WireEvents with every field set: the reference path
            pass
    if not gc.isenabled():
        return dict(zip(WIRE_FIELDS, zip(*map(_astuple, events), strict=True), strict=True))
    gc.disable()
    try:
        return dict(zip(WIRE_FIELDS, zip(*map(_astuple, events), strict=True), strict=True))
    finally:
        gc.enable()


def _native_codes(col: Sequence[Any], base: int) -> tuple[list[str], np.ndarray] | None:
    """The C extension's dense codes of a column of str and None (`_fastpage.codes`: the
    distinct strings in first-seen order, and each value's code from `base`, -1 for
    None), or None where the extension is not in use or a value is neither (the
    reference path then)."""
    if native is None:
        return None
    out = np.empty(len(col), dtype=np.int32)
    try:
        return native.codes(col, base, out), out
    except TypeError:
        return None


def column_absent(col: Sequence[Any], n: int) -> bool:
    """Whether a column of n values is absent (None) in every event. A present column
    nearly always has a value in its first event, and that answers without counting
    (counting None compares every string with it, the slow way; the C extension looks
    for None by identity, and counts only where a value is not a str or a number)."""
    if n == 0:
        return True
    if col[0] is not None:
        return False
    if native is not None:
        answer = native.all_none(col)
        if answer is not None:
            return answer
    return col.count(None) == n


def _type_codes(col: Sequence[Any], n: int) -> np.ndarray:
    """The type code of each event (_UNKNOWN_TYPE for a name not known). A page or
    block is often of one type (all check-ins): one count, not a lookup per event. With
    the C extension, the column is coded (its few distinct names) and the names looked up."""
    coded = _native_codes(col, 0) if n else None
    if coded is not None:  # None (code -1) takes the last entry: unknown, as _TYPE_CODE[None] is
        names, codes = coded
        lookup = [_TYPE_CODE[name] for name in names] + [_UNKNOWN_TYPE]
        return np.array(lookup, dtype=np.uint8)[codes]
    if n and col.count(col[0]) == n:
        return np.full(n, _TYPE_CODE[col[0]], dtype=np.uint8)
    return looked_up(_TYPE_CODE, col, np.uint8)


def _floats(col: Sequence[Any]) -> np.ndarray:
    """A numeric column (None absent) as float64 with NaN where absent."""
    try:  # half np.array's time for a flat column (both read None as NaN)
        return np.fromiter(col, dtype=np.float64, count=len(col))
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        return np.array(col, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # an int beyond float range, say
        return np.array([_float_or_nan(v) for v in col], dtype=np.float64)


def _float_or_nan(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return float("inf")  # outside every range: rejected as invalid_value


def _nan_values(col: Sequence[Any], arr: np.ndarray) -> np.ndarray:
    """Where a numeric column holds NaN as a value (a CSV 'nan'), not as absent."""
    nan = np.isnan(arr)
    if not nan.any() or int(nan.sum()) == col.count(None):
        return np.zeros(arr.shape, dtype=bool)
    return nan & np.array([v is not None for v in col])


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _looks_numeric(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


def _number(v: Any) -> Any:
    """A number written as a string becomes that number; anything else stays."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v
