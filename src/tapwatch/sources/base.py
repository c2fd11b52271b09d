"""What every source adapter shares: typed failures, the poll context and event
normalisation (validate, check the clock, pseudonymise)."""

from __future__ import annotations

import enum
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import msgspec
import numpy as np

from tapwatch.datum import Datum, gcj02_to_wgs84
from tapwatch.events import (
    Event,
    EventRejected,
    RejectReason,
    WireEvent,
    decode_event,
    validate_wire,
    wire_from_mapping,
)
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.store.sqlite import IngestBatch

log = logging.getLogger("tapwatch.sources")


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
    #: set by the source when it stopped with data still waiting (page budget spent):
    #: the scheduler then polls again at once instead of after the interval
    backlog: bool = False


class Source(Protocol):
    """A source yields batches; the scheduler commits each (events + cursor) atomically."""

    def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]: ...


class EventNormaliser:
    """Turns raw event bodies into stored Events, counting each rejection by reason and
    logging the first example of each reason once (never a raw account id)."""

    def __init__(
        self,
        app_id: str,
        pseudonymizer: Pseudonymizer,
        now: float,
        max_clock_skew: float,
        oldest_accepted: float,
    ) -> None:
        self.app_id = app_id
        self._p = pseudonymizer
        self._latest = now + max_clock_skew
        self._oldest = oldest_accepted
        self.rejected: Counter[str] = Counter()
        self._logged: set[str] = set()

    def take_rejected(self) -> Counter[str]:
        out, self.rejected = self.rejected, Counter()
        return out

    def from_raw(self, raw: bytes | msgspec.Raw) -> Event | None:
        try:
            w, ts, et = decode_event(raw)
        except EventRejected as e:
            self._reject(e.reason, e.detail)
            return None
        return self.accept(w, ts, et)

    def from_mappings(self, rows: list[dict[str, Any]]) -> list[Event]:
        """Events from a page of usage-API-shaped mappings (one call per page, so the
        page can be validated as columns)."""
        return [e for r in rows if (e := self.from_mapping(r)) is not None]

    def from_mapping(self, row: dict[str, Any]) -> Event | None:
        try:
            w = wire_from_mapping(row)
            ts, et = validate_wire(w)
        except EventRejected as e:
            self._reject(e.reason, e.detail)
            return None
        return self.accept(w, ts, et)

    def accept(self, w: WireEvent, ts: float, et: Any) -> Event | None:
        """A decoded, validated event: check its time, pseudonymise it."""
        if ts > self._latest:
            self._reject(RejectReason.future_timestamp, "ts is beyond the allowed clock skew")
            return None
        if ts < self._oldest:
            self._reject(RejectReason.too_old, "ts is older than the rollup retention")
            return None
        p = self._p
        ev = Event(
            app=self.app_id,
            id=w.id,
            ts=ts,
            type=et,
            account=p.account(w.account),
            unit=w.unit,
            device=p.device(w.device),
            device_model=w.device_model,
            network=p.network(w.network),
            lat=w.lat,
            lon=w.lon,
            accuracy_m=w.accuracy_m,
            point=w.point,
            target=w.target,
            duration_s=w.duration_s,
        )
        # A msgspec Struct call with more than 15 keyword arguments costs over twice as
        # much (measured: 0.3 vs 0.8 us): the last four fields, mostly absent, come after.
        if w.playback_rate is not None:
            ev.playback_rate = w.playback_rate
        if w.position_s is not None:
            ev.position_s = w.position_s
        if w.content_hash is not None:
            ev.content_hash = w.content_hash
        if w.photo_hash is not None:
            ev.photo_hash = w.photo_hash
        return ev

    def _reject(self, reason: RejectReason, detail: str) -> None:
        self.rejected[reason.value] += 1
        if reason.value not in self._logged:
            self._logged.add(reason.value)
            # msgspec's messages name the field, never its value: safe to log.
            log.warning("app %s: rejected an event (%s): %s", self.app_id, reason.value, detail)


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
