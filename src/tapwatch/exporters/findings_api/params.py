"""Query parameters of the findings API (and the list page's filter form): filters, times,
paging cursors and finding ids. Unknown parameters and bad values are `BadRequest`s that
name the parameter."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tapwatch.config import AppConfig
from tapwatch.detectors import FINDING_KINDS
from tapwatch.detectors.base import SEVERITIES
from tapwatch.exporters.web import BadRequest
from tapwatch.store.findings import STATUSES, TIME_FIELDS, FindingQuery

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
KINDS = tuple(sorted(FINDING_KINDS))
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_LIST_PARAMS = frozenset(
    {"app", "kind", "severity", "status", "owner", "region", "since", "until", "time_field"}
)
_PAGING = frozenset({"limit", "cursor", "offset"})


def parse_time(value: str, tz: ZoneInfo, name: str) -> float:
    """RFC 3339 with an offset, a date (local midnight in the daemon's time zone) or
    epoch seconds."""
    v = value.strip()
    try:
        ts = float(v)
    except ValueError:
        pass
    else:
        if ts != ts or ts in (float("inf"), float("-inf")) or ts < 0:
            raise BadRequest(f"{name} is out of range", {"parameter": name, "value": value[:64]})
        return ts
    try:
        if len(v) == 10:
            d = date.fromisoformat(v)
            return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise BadRequest(
            f"{name} must be RFC 3339 with an offset, a date YYYY-MM-DD or epoch seconds",
            {"parameter": name, "value": value[:64]},
        ) from None
    if dt.tzinfo is None:
        raise BadRequest(f"{name} has no UTC offset", {"parameter": name, "value": value[:64]})
    return dt.timestamp()


def encode_cursor(after: tuple[float, str]) -> str:
    raw = json.dumps([after[0], after[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        first_seen, fid = json.loads(raw)
        if not isinstance(first_seen, int | float) or not isinstance(fid, str):
            raise ValueError
        return float(first_seen), fid
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("cursor is not one this API gave", {"parameter": "cursor"}) from None


def values(q: Any, name: str) -> tuple[str, ...] | None:
    """Every value given for `name` (None if not given)."""
    vals = tuple(q.getall(name, []))
    for v in vals:
        if len(v) > 200:
            raise BadRequest(f"{name} value is too long", {"parameter": name})
    return vals or None


def enum(q: Any, name: str, allowed: Iterable[str]) -> tuple[str, ...] | None:
    """Every value given for `name`, each one of `allowed`."""
    vals = values(q, name)
    allowed = tuple(allowed)
    for v in vals or ():
        if v not in allowed:
            raise BadRequest(
                f"unknown {name} {v[:64]!r}", {"parameter": name, "allowed": list(allowed)}
            )
    return vals


def no_unknown(q: Any, allowed: Iterable[str]) -> None:
    """Refuse parameters not in `allowed`, naming the first."""
    allowed = frozenset(allowed)
    unknown = sorted(set(q.keys()) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}", {"allowed": sorted(allowed)})


def integer(q: Any, name: str, default: int, lo: int, hi: int) -> int:
    if name not in q:
        return default
    raw = q[name]
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", {"parameter": name}) from None
    if not lo <= v <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}", {"parameter": name})
    return v


def parse_filters(
    q: Any, apps: Mapping[str, AppConfig], tz: ZoneInfo, *, paging: bool
) -> FindingQuery:
    """A FindingQuery from query parameters (unknown parameters are errors; an empty value
    is a value: `status=` is an unknown status, `app=` matches no app)."""
    no_unknown(q, _LIST_PARAMS | _PAGING if paging else _LIST_PARAMS)
    app_ids = values(q, "app")
    for key in ("owner", "region"):
        wanted = values(q, key)
        if wanted is not None:
            ids = {a.id for a in apps.values() if getattr(a, key) in wanted}
            app_ids = tuple(sorted(ids if app_ids is None else ids & set(app_ids)))
    since = until = None
    if "since" in q:
        since = parse_time(q["since"], tz, "since")
    if "until" in q:
        until = parse_time(q["until"], tz, "until")
    if since is not None and until is not None and since >= until:
        raise BadRequest("since must be before until", {"since": since, "until": until})
    time_field = q.get("time_field", "window")
    if time_field not in TIME_FIELDS:
        raise BadRequest("unknown time_field", {"allowed": list(TIME_FIELDS)})
    limit, offset, after = DEFAULT_LIMIT, 0, None
    if paging:
        limit = integer(q, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = integer(q, "offset", 0, 0, 10**9)
        if "cursor" in q:
            if "offset" in q:
                raise BadRequest("give cursor or offset, not both", None)
            after = decode_cursor(q["cursor"])
    return FindingQuery(
        apps=app_ids,
        kinds=enum(q, "kind", KINDS),
        severities=enum(q, "severity", SEVERITIES),
        statuses=enum(q, "status", STATUSES),
        since=since,
        until=until,
        time_field=time_field,
        limit=limit,
        after=after,
        offset=offset,
    )


def check_id(fid: str) -> str:
    if not _ID_RE.match(fid):
        raise BadRequest("malformed finding id", {"parameter": "id"})
    return fid
