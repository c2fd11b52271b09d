"""Columnar windows of events and daily rollups: what detectors read.

The daemon builds them from the store, `tapwatch analyze` from files; both through the
functions here, so the same events give the same windows and the same findings.

Memory: one event held in an `EventWindow` costs about 80 bytes (numpy columns plus its id
as fixed-width bytes), not the ~1 KB of a Python object per event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from tapwatch.events import MEANINGFUL_TYPES, Event, EventType

DAY = 86400.0
_STR_COLUMNS = (
    "unit",
    "device",
    "device_model",
    "network",
    "point",
    "target",
    "content_hash",
    "photo_hash",
)
_F32_COLUMNS = ("accuracy_m", "duration_s", "playback_rate", "position_s")


@dataclass(slots=True)
class EventWindow:
    """Events of one app, sorted by time, as columns.

    String-valued columns hold int32 codes into `strings` (-1 = absent); `account` holds
    codes into `accounts` (pseudonyms). Float columns hold NaN where absent.
    """

    app: str
    ts: np.ndarray  # float64 epoch seconds, ascending
    type: np.ndarray  # uint8 EventType codes
    account: np.ndarray  # int32 codes into accounts
    unit: np.ndarray
    device: np.ndarray
    device_model: np.ndarray
    network: np.ndarray
    point: np.ndarray
    target: np.ndarray
    content_hash: np.ndarray
    photo_hash: np.ndarray
    lat: np.ndarray  # float64
    lon: np.ndarray  # float64
    accuracy_m: np.ndarray  # float32
    duration_s: np.ndarray
    playback_rate: np.ndarray
    position_s: np.ndarray
    ids: np.ndarray  # fixed-width bytes: the app's event ids
    accounts: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(
            getattr(self, f).nbytes
            for f in ("ts", "type", "account", "lat", "lon", "ids", *_STR_COLUMNS, *_F32_COLUMNS)
        )

    def event_ids(self, rows: Iterable[int]) -> list[str]:
        return [self.ids[i].decode() for i in rows]

    def string(self, code: int) -> str | None:
        return None if code < 0 else self.strings[code]

    def select(self, mask: np.ndarray) -> EventWindow:
        """A window of the rows where mask is true (or of the given row indices)."""
        cols = {
            f: getattr(self, f)[mask]
            for f in ("ts", "type", "account", "lat", "lon", "ids", *_STR_COLUMNS, *_F32_COLUMNS)
        }
        return EventWindow(app=self.app, accounts=self.accounts, strings=self.strings, **cols)

    def since(self, start: float) -> EventWindow:
        i = int(np.searchsorted(self.ts, start, side="left"))
        return self.select(slice(i, None))  # type: ignore[arg-type]

    @classmethod
    def empty(cls, app: str) -> EventWindow:
        return cls.from_events(app, [])

    def extend(self, new: EventWindow) -> EventWindow:
        """This window followed by `new` (events not in this one): codes of `new` are
        mapped into this window's tables, rows re-sorted by (time, id) only if `new`
        reaches back before this window's end. Used to update a cached window with the
        events ingested since, instead of rebuilding it."""
        if len(new) == 0:
            return self
        accounts, strings = list(self.accounts), list(self.strings)
        acc_map = _code_map(new.accounts, accounts)
        str_map = _code_map(new.strings, strings)
        cols: dict[str, np.ndarray] = {}
        for f in ("ts", "type", "lat", "lon", "ids", *_F32_COLUMNS):
            a, b = getattr(self, f), getattr(new, f)
            if f == "ids" and a.dtype.itemsize != b.dtype.itemsize:
                width = max(a.dtype.itemsize, b.dtype.itemsize)
                a, b = a.astype(f"S{width}"), b.astype(f"S{width}")
            cols[f] = np.concatenate([a, b])
        cols["account"] = np.concatenate([self.account, acc_map[new.account]])
        for f in _STR_COLUMNS:
            cols[f] = np.concatenate([getattr(self, f), str_map[getattr(new, f)]])
        out = EventWindow(app=self.app, accounts=accounts, strings=strings, **cols)
        if len(self) and new.ts[0] < self.ts[-1]:
            out = out.select(np.lexsort((out.ids, out.ts)))
        return out

    def compacted(self) -> EventWindow:
        """The same window with tables holding only the strings still in use (a cached
        window keeps every string it ever saw until compacted)."""
        acc_used = np.unique(self.account)
        str_used = np.unique(np.concatenate([getattr(self, f) for f in _STR_COLUMNS]))
        str_used = str_used[str_used >= 0]
        acc_new = np.full(len(self.accounts) + 1, -1, dtype=np.int32)
        acc_new[acc_used] = np.arange(acc_used.size, dtype=np.int32)
        str_new = np.full(len(self.strings) + 1, -1, dtype=np.int32)
        str_new[str_used] = np.arange(str_used.size, dtype=np.int32)
        cols = {f: getattr(self, f) for f in ("ts", "type", "lat", "lon", "ids", *_F32_COLUMNS)}
        cols["account"] = acc_new[self.account]
        for f in _STR_COLUMNS:
            cols[f] = str_new[getattr(self, f)]  # -1 stays -1 (the extra last slot)
        return EventWindow(
            app=self.app,
            accounts=[self.accounts[i] for i in acc_used.tolist()],
            strings=[self.strings[i] for i in str_used.tolist()],
            **cols,
        )

    @property
    def table_size(self) -> int:
        return len(self.accounts) + len(self.strings)

    @classmethod
    def from_events(cls, app: str, events: Iterable[Event]) -> EventWindow:
        """Build a window from events (any order; de-duplicated by id, first wins)."""
        acc_codes: dict[str, int] = {}
        str_codes: dict[str, int] = {}

        def code(s: str | None) -> int:
            if s is None:
                return -1
            c = str_codes.get(s)
            if c is None:
                c = str_codes[s] = len(str_codes)
            return c

        seen: set[str] = set()
        rows: list[tuple] = []
        for e in events:
            if e.id in seen:
                continue
            seen.add(e.id)
            a = acc_codes.get(e.account)
            if a is None:
                a = acc_codes[e.account] = len(acc_codes)
            rows.append(
                (
                    e.ts,
                    int(e.type),
                    a,
                    code(e.unit),
                    code(e.device),
                    code(e.device_model),
                    code(e.network),
                    code(e.point),
                    code(e.target),
                    code(e.content_hash),
                    code(e.photo_hash),
                    _f(e.lat),
                    _f(e.lon),
                    _f(e.accuracy_m),
                    _f(e.duration_s),
                    _f(e.playback_rate),
                    _f(e.position_s),
                    e.id.encode(),
                )
            )
        # Stable order: by time, then by id, so equal inputs give equal windows.
        rows.sort(key=lambda r: (r[0], r[17]))
        n = len(rows)
        cols = list(zip(*rows, strict=True)) if n else [()] * 18
        i32 = np.int32
        return cls(
            app=app,
            ts=np.array(cols[0], dtype=np.float64),
            type=np.array(cols[1], dtype=np.uint8),
            account=np.array(cols[2], dtype=i32),
            unit=np.array(cols[3], dtype=i32),
            device=np.array(cols[4], dtype=i32),
            device_model=np.array(cols[5], dtype=i32),
            network=np.array(cols[6], dtype=i32),
            point=np.array(cols[7], dtype=i32),
            target=np.array(cols[8], dtype=i32),
            content_hash=np.array(cols[9], dtype=i32),
            photo_hash=np.array(cols[10], dtype=i32),
            lat=np.array(cols[11], dtype=np.float64),
            lon=np.array(cols[12], dtype=np.float64),
            accuracy_m=np.array(cols[13], dtype=np.float32),
            duration_s=np.array(cols[14], dtype=np.float32),
            playback_rate=np.array(cols[15], dtype=np.float32),
            position_s=np.array(cols[16], dtype=np.float32),
            ids=np.array(cols[17], dtype=bytes) if n else np.array([], dtype="S1"),
            accounts=list(acc_codes),
            strings=list(str_codes),
        )


def _f(v: float | None) -> float:
    return np.nan if v is None else v


def _code_map(values: list[str], table: list[str]) -> np.ndarray:
    """Codes of `values` in `table` (appending the missing ones), as an array indexed by
    the old code; its last slot maps -1 (absent) to -1."""
    index = {s: i for i, s in enumerate(table)}
    out = np.empty(len(values) + 1, dtype=np.int32)
    for i, v in enumerate(values):
        c = index.get(v)
        if c is None:
            c = index[v] = len(table)
            table.append(v)
        out[i] = c
    out[-1] = -1
    return out


def utc_offsets(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """UTC offset in seconds for each timestamp (resolved per distinct UTC hour)."""
    if ts.size == 0:
        return np.zeros(0)
    hours = np.floor(ts / 3600.0).astype(np.int64)
    uniq, inv = np.unique(hours, return_inverse=True)
    offs = np.array(
        [
            tz.utcoffset(datetime.fromtimestamp(h * 3600, UTC).replace(tzinfo=None))
            / timedelta(seconds=1)
            for h in uniq
        ]
    )
    return offs[inv]


def local_seconds(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Epoch seconds shifted to the app's wall clock (day = floor(local / 86400))."""
    return ts + utc_offsets(ts, tz)


def local_day_of(ts: float, tz: ZoneInfo) -> int:
    """Local day number (days since 1970-01-01 on the app's wall clock) of one instant."""
    return int(np.floor(local_seconds(np.array([ts]), tz)[0] / DAY))


@dataclass(slots=True)
class AccountDays:
    """Per-account, per-local-day rollups (what detectors need over 90+ days).

    One row per (day, account). `first_s`/`last_s` are seconds after local midnight.
    """

    day: np.ndarray  # int32 local day number (days since 1970-01-01 in app time)
    account: np.ndarray  # int32 codes into accounts
    events: np.ndarray  # int32
    meaningful: np.ndarray  # int32 (form_submit, appointment, action)
    checkin: np.ndarray
    read: np.ndarray
    like: np.ndarray
    study: np.ndarray
    session: np.ndarray  # session_start count
    study_s: np.ndarray  # float32 credited study seconds
    first_s: np.ndarray  # float32 seconds after local midnight of the first event
    last_s: np.ndarray
    accounts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.day.shape[0])

    _COLUMNS = (
        "day", "account", "events", "meaningful", "checkin", "read", "like", "study",
        "session", "study_s", "first_s", "last_s",
    )

    def select(self, mask: np.ndarray) -> AccountDays:
        cols = {f: getattr(self, f)[mask] for f in self._COLUMNS}
        return AccountDays(accounts=self.accounts, **cols)

    def extend(self, new: AccountDays) -> AccountDays:
        """These rows followed by `new` (rows of later days), accounts mapped into this
        table; accounts no longer used are dropped."""
        accounts = list(self.accounts)
        acc_map = _code_map(new.accounts, accounts)
        cols = {f: np.concatenate([getattr(self, f), getattr(new, f)]) for f in self._COLUMNS}
        cols["account"] = np.concatenate([self.account, acc_map[new.account]])
        used = np.unique(cols["account"])
        recode = np.zeros(len(accounts), dtype=np.int32)
        recode[used] = np.arange(used.size, dtype=np.int32)
        cols["account"] = recode[cols["account"]]
        return AccountDays(accounts=[accounts[i] for i in used.tolist()], **cols)

    @classmethod
    def from_rows(cls, rows: list[tuple], accounts: list[str]) -> AccountDays:
        """rows: (day, account_code, events, meaningful, checkin, read, like, study,
        session, study_s, first_s, last_s)."""
        cols = list(zip(*rows, strict=True)) if rows else [()] * 12
        i = np.int32
        f = np.float32
        return cls(
            day=np.array(cols[0], dtype=i),
            account=np.array(cols[1], dtype=i),
            events=np.array(cols[2], dtype=i),
            meaningful=np.array(cols[3], dtype=i),
            checkin=np.array(cols[4], dtype=i),
            read=np.array(cols[5], dtype=i),
            like=np.array(cols[6], dtype=i),
            study=np.array(cols[7], dtype=i),
            session=np.array(cols[8], dtype=i),
            study_s=np.array(cols[9], dtype=f),
            first_s=np.array(cols[10], dtype=f),
            last_s=np.array(cols[11], dtype=f),
            accounts=accounts,
        )


@dataclass(slots=True)
class AppHours:
    """Per-app event counts by local day, local hour and event type."""

    day: np.ndarray  # int32
    hour: np.ndarray  # uint8 0..23
    type: np.ndarray  # uint8
    count: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.day.shape[0])

    def select(self, mask: np.ndarray) -> AppHours:
        return AppHours(self.day[mask], self.hour[mask], self.type[mask], self.count[mask])

    def extend(self, new: AppHours) -> AppHours:
        """These rows followed by `new` (rows of later days)."""
        return AppHours(
            *(np.concatenate([getattr(self, f), getattr(new, f)])
              for f in ("day", "hour", "type", "count"))
        )

    @classmethod
    def from_rows(cls, rows: list[tuple[int, int, int, int]]) -> AppHours:
        cols = list(zip(*rows, strict=True)) if rows else [()] * 4
        return cls(
            day=np.array(cols[0], dtype=np.int32),
            hour=np.array(cols[1], dtype=np.uint8),
            type=np.array(cols[2], dtype=np.uint8),
            count=np.array(cols[3], dtype=np.int64),
        )


def rollup_rows(
    events: list[Event], tz: ZoneInfo
) -> tuple[dict[tuple[int, str], list[float]], dict[tuple[int, int, int], int]]:
    """Aggregate events into account-day and app-hour partial rollups.

    Returns ({(day, account): [events, meaningful, checkin, read, like, study, session,
    study_s, first_s, last_s]}, {(day, hour, type): count}). Partials merge by summing the
    counts and taking min(first_s) / max(last_s), so ingest batches can be rolled up one at
    a time (the store) or all at once (`analyze`) with the same result.
    """
    acc: dict[tuple[int, str], list[float]] = {}
    hours: dict[tuple[int, int, int], int] = {}
    if not events:
        return acc, hours
    ts = np.fromiter((e.ts for e in events), dtype=np.float64, count=len(events))
    local = local_seconds(ts, tz)
    days = np.floor(local / DAY).astype(np.int64)
    sod = local - days * DAY
    hour = (sod // 3600).astype(np.int64)
    column = _ROLLUP_COLUMN
    for e, d, s, h in zip(events, days.tolist(), sod.tolist(), hour.tolist(), strict=True):
        t = int(e.type)
        hk = (d, h, t)
        hours[hk] = hours.get(hk, 0) + 1
        key = (d, e.account)
        r = acc.get(key)
        if r is None:
            r = acc[key] = [0, 0, 0, 0, 0, 0, 0, 0.0, s, s]
        else:
            if s < r[8]:
                r[8] = s
            if s > r[9]:
                r[9] = s
        r[0] += 1
        c = column[t]
        if c:
            r[c] += 1
            if c == 5:
                r[7] += e.duration_s or 0.0
    return acc, hours


#: rollup column counted for each event type (0 = only the total).
_ROLLUP_COLUMN = [0] * len(EventType)
for _t in MEANINGFUL_TYPES:
    _ROLLUP_COLUMN[_t] = 1
_ROLLUP_COLUMN[EventType.checkin] = 2
_ROLLUP_COLUMN[EventType.read] = 3
_ROLLUP_COLUMN[EventType.like] = 4
_ROLLUP_COLUMN[EventType.study] = 5
_ROLLUP_COLUMN[EventType.session_start] = 6


def merge_rollup(into: list[float], part: list[float]) -> None:
    """Merge one account-day partial into another (see rollup_rows)."""
    for i in range(8):
        into[i] += part[i]
    into[8] = min(into[8], part[8])
    into[9] = max(into[9], part[9])


def account_days_from(acc: dict[tuple[int, str], list[float]]) -> AccountDays:
    """Columnar AccountDays from merged partials, accounts coded in first-seen order of a
    sorted walk (deterministic)."""
    codes: dict[str, int] = {}
    rows = []
    for (day, account), r in sorted(acc.items()):
        c = codes.get(account)
        if c is None:
            c = codes[account] = len(codes)
        rows.append((day, c, *r))
    return AccountDays.from_rows(rows, list(codes))


def app_hours_from(hours: dict[tuple[int, int, int], int]) -> AppHours:
    return AppHours.from_rows([(*k, v) for k, v in sorted(hours.items())])
