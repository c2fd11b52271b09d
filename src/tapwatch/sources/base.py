"""What every source adapter shares: typed failures, the poll context and event
normalisation (`EventNormaliser`, in tapwatch.sources.normalise: records in, validated and
pseudonymised columns out)."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import aiohttp
import msgspec
import numpy as np

from tapwatch.datum import Datum, gcj02_to_wgs84
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.normalise import EventNormaliser, RejectLog
from tapwatch.store.sqlite import IngestBatch

__all__ = [
    "MAX_COUNT",
    "Count",
    "ErrorReason",
    "EventNormaliser",
    "PollContext",
    "RejectLog",
    "SkipReason",
    "Source",
    "SourceError",
    "count_of",
    "parse_json_cursor",
    "rows_to_wgs84",
]


class ErrorReason(enum.StrEnum):
    """Why a poll failed (the `reason` label of tapwatch_app_scrape_errors_total)."""

    auth = "auth"  # 401/403: needs a person, not a retry
    timeout = "timeout"
    connect = "connect"
    http_status = "http_status"
    decode = "decode"  # not JSON / wrong content type / unreadable file
    schema = "schema"  # JSON, but not the shape of the contract
    too_large = "too_large"
    rate_limited = "rate_limited"


class SkipReason(enum.StrEnum):
    """Why a platform record was read but not stored as an event (the `kind` label of
    tapwatch_app_records_skipped_total): attendance not made by a person on a phone."""

    not_checked_in = "not_checked_in"  # a missed check-in the platform lists (未打卡)
    # DingTalk sourceType of records not made by a person on a phone
    atm = "atm"  # attendance machine: fingerprint / face
    ding_atm = "ding_atm"  # DingTalk attendance machine (Bluetooth)
    beacon = "beacon"  # iBeacon
    boss = "boss"  # changed by a manager
    approve = "approve"  # from an approval (leave, business trip)
    system = "system"  # written by the attendance system
    auto_check = "auto_check"  # automatic check-in
    unknown_source = "unknown_source"  # a sourceType the documentation does not list


class SourceError(Exception):
    def __init__(
        self, reason: ErrorReason, detail: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


#: Largest count an upstream may state (accounts, followers, reads of a day): ten times a
#: large province's population. A bigger or negative figure is a bug upstream, and 1e18
#: accounts would break every ratio computed from it. Documented in docs/usage-api.md.
MAX_COUNT = 10**9
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


def count_of(name: str, value: float) -> int:
    """A figure read as a float (Prometheus text) as a count in [0, MAX_COUNT]; SourceError
    (`schema`, naming the figure) otherwise."""
    if not (math.isfinite(value) and 0 <= value <= MAX_COUNT):
        raise SourceError(ErrorReason.schema, f"{name} = {value!r} is outside 0 .. {MAX_COUNT:,}")
    return int(value)


@dataclass
class PollContext:
    """What a source may use during one poll of one app."""

    app_id: str
    session: aiohttp.ClientSession | None
    pseudonymizer: Pseudonymizer
    now: Callable[[], float]
    timeout: float
    max_response_bytes: int
    max_clock_skew: float
    oldest_accepted: float  # events older than this are rejected as too_old
    cursor: str | None = None
    files_done: set[str] = field(default_factory=set)
    #: the app's reject log, kept across polls (rejections are logged once per change)
    reject_log: RejectLog | None = None
    #: set by the source when it stopped with data still waiting (page budget spent):
    #: the scheduler then polls again at once instead of after the interval
    backlog: bool = False

    def normaliser(self) -> EventNormaliser:
        """A normaliser for this poll: the app's clock checks, pseudonyms and reject log."""
        return EventNormaliser(
            self.app_id,
            self.pseudonymizer,
            self.now(),
            self.max_clock_skew,
            self.oldest_accepted,
            self.reject_log,
        )


class Source(Protocol):
    """A source yields batches; the scheduler commits each (events + cursor) atomically."""

    def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]: ...


def rows_to_wgs84(rows: list[dict[str, Any]], datum: Datum) -> None:
    """Convert the `lat`/`lon` of usage-API-shaped rows given in `datum` to WGS-84, in
    place and vectorised over the page. Rows without a position, or with one that is not
    a number, are left alone (the normaliser rejects the latter)."""
    if datum is Datum.wgs84:
        return
    at = [i for i, r in enumerate(rows) if r.get("lat") is not None and r.get("lon") is not None]
    if not at:
        return
    lat = np.array([_number(rows[i]["lat"]) for i in at])
    lon = np.array([_number(rows[i]["lon"]) for i in at])
    w_lat, w_lon = gcj02_to_wgs84(lat, lon)
    for k, i in enumerate(at):
        if np.isfinite(w_lat[k]) and np.isfinite(w_lon[k]):
            # 1e-7 degrees is about a centimetre: no spurious digits in stored evidence
            rows[i]["lat"] = round(float(w_lat[k]), 7)
            rows[i]["lon"] = round(float(w_lon[k]), 7)


def _number(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def parse_json_cursor(cursor: str | None) -> dict[str, Any]:
    """A source's stored JSON cursor as a dict ({} if none, or not one of ours)."""
    if not cursor:
        return {}
    try:
        c = json.loads(cursor)
    except ValueError:
        return {}
    return c if isinstance(c, dict) else {}
