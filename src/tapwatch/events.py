"""Usage events: the wire contract of usage API v1 and the typed record tapwatch stores.

One event decodes alone: a bad event is rejected with a reason and never sinks its page.
The same field names serve the usage API (`GET /v1/events`), JSONL drops and CSV drops.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any

import msgspec


class EventType(enum.IntEnum):
    """Kinds of usage event. Codes are stored; never renumber, only append."""

    session_start = 0
    session_end = 1
    checkin = 2
    read = 3
    like = 4
    study = 5
    form_submit = 6
    appointment = 7
    action = 8


EVENT_TYPE_BY_NAME: dict[str, EventType] = {t.name: t for t in EventType}

#: Types that count as *meaningful* use: someone got work done. Check-ins, likes, reads
#: and study timers are what forced usage is made of, so they never make an account organic.
MEANINGFUL_TYPES: frozenset[EventType] = frozenset(
    {EventType.form_submit, EventType.appointment, EventType.action}
)
#: Types that are the stuff of ritual usage (check-in, like, read).
RITUAL_TYPES: frozenset[EventType] = frozenset({EventType.checkin, EventType.like, EventType.read})


class RejectReason(enum.StrEnum):
    """Why one event was rejected (a bounded label value)."""

    missing_field = "missing_field"
    invalid_type = "invalid_type"
    invalid_value = "invalid_value"
    invalid_timestamp = "invalid_timestamp"
    unknown_event_type = "unknown_event_type"
    future_timestamp = "future_timestamp"
    too_old = "too_old"
    duplicate = "duplicate"
    not_an_object = "not_an_object"


Lat = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
NonNeg = Annotated[float, msgspec.Meta(ge=0.0)]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
ShortStr = Annotated[str, msgspec.Meta(max_length=512)]


class WireEvent(msgspec.Struct, kw_only=True):
    """One event as an app sends it. Unknown fields are ignored."""

    id: Ident
    ts: str | float
    type: str
    account: Ident
    app: ShortStr | None = None
    unit: ShortStr | None = None
    device: ShortStr | None = None
    device_model: ShortStr | None = None
    network: ShortStr | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    accuracy_m: NonNeg | None = None
    point: ShortStr | None = None
    target: ShortStr | None = None
    duration_s: NonNeg | None = None
    playback_rate: Positive | None = None
    position_s: NonNeg | None = None
    content_hash: ShortStr | None = None
    photo_hash: ShortStr | None = None


class Event(msgspec.Struct, kw_only=True, array_like=True):
    """An accepted event, as stored: epoch-seconds time, typed kind, and pseudonymised
    account, device and network (never the raw ids)."""

    app: str
    id: str
    ts: float
    type: EventType
    account: str
    unit: str | None = None
    device: str | None = None
    device_model: str | None = None
    network: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    point: str | None = None
    target: str | None = None
    duration_s: float | None = None
    playback_rate: float | None = None
    position_s: float | None = None
    content_hash: str | None = None
    photo_hash: str | None = None


#: Field names in wire order: the JSONL keys and the CSV header.
WIRE_FIELDS: tuple[str, ...] = WireEvent.__struct_fields__
_NUMERIC_FIELDS = frozenset(
    {"lat", "lon", "accuracy_m", "duration_s", "playback_rate", "position_s"}
)


class EventRejected(ValueError):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_ts(value: str | float) -> float:
    """RFC 3339 with an offset, or epoch seconds, to epoch seconds."""
    if isinstance(value, bool):
        raise EventRejected(RejectReason.invalid_timestamp, "ts must be a string or a number")
    if isinstance(value, int | float):
        ts = float(value)
    else:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise EventRejected(
                RejectReason.invalid_timestamp, f"ts {value[:40]!r} is not RFC 3339"
            ) from None
        if dt.tzinfo is None:
            raise EventRejected(
                RejectReason.invalid_timestamp, f"ts {value[:40]!r} has no UTC offset"
            )
        ts = dt.timestamp()
    if not math.isfinite(ts) or ts < 0:
        raise EventRejected(RejectReason.invalid_timestamp, "ts out of range")
    return ts


def _classify(err: msgspec.ValidationError) -> RejectReason:
    msg = str(err)
    if msg.startswith("Object missing required field"):
        return RejectReason.missing_field
    if msg.startswith("Expected `object`"):
        return RejectReason.not_an_object
    if msg.startswith("Expected `str` of length") or " >= " in msg or " > " in msg or " <= " in msg:
        return RejectReason.invalid_value
    return RejectReason.invalid_type


_wire_decoder = msgspec.json.Decoder(WireEvent)


class _Page(msgspec.Struct):
    events: list[msgspec.Raw]
    next_cursor: str | None = None
    has_more: bool = False


_page_decoder = msgspec.json.Decoder(_Page)


class Page(msgspec.Struct):
    """A decoded page of `GET /v1/events`: raw event bodies, decoded one by one later."""

    events: list[msgspec.Raw]
    next_cursor: str | None
    has_more: bool


def decode_page(body: bytes) -> Page:
    """Decode a page envelope. Raises msgspec.DecodeError / ValidationError on a bad page."""
    p = _page_decoder.decode(body)
    return Page(events=p.events, next_cursor=p.next_cursor, has_more=p.has_more)


def validate_wire(w: WireEvent) -> tuple[float, EventType]:
    """Checks msgspec cannot express: timestamp and event type."""
    ts = parse_ts(w.ts)
    et = EVENT_TYPE_BY_NAME.get(w.type)
    if et is None:
        raise EventRejected(RejectReason.unknown_event_type, f"type {w.type[:40]!r} is unknown")
    if (w.lat is None) != (w.lon is None):
        raise EventRejected(RejectReason.invalid_value, "lat and lon must come together")
    return ts, et


def decode_event(raw: bytes | msgspec.Raw) -> tuple[WireEvent, float, EventType]:
    """Decode and validate one event body. Raises EventRejected."""
    try:
        w = _wire_decoder.decode(raw)
    except msgspec.ValidationError as e:
        raise EventRejected(_classify(e), str(e)) from None
    except msgspec.DecodeError as e:  # not even JSON
        raise EventRejected(RejectReason.not_an_object, str(e)) from None
    ts, et = validate_wire(w)
    return w, ts, et


def wire_from_mapping(row: dict[str, Any]) -> WireEvent:
    """Validate a mapping (a CSV row, with empty cells meaning absent). Raises EventRejected."""
    clean: dict[str, Any] = {}
    for k, v in row.items():
        if k is None or v is None or v == "":
            continue
        if k in _NUMERIC_FIELDS or (k == "ts" and _looks_numeric(v)):
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise EventRejected(
                    RejectReason.invalid_type, f"Expected a number - at `$.{k}`"
                ) from None
        clean[k] = v
    try:
        return msgspec.convert(clean, WireEvent)
    except msgspec.ValidationError as e:
        raise EventRejected(_classify(e), str(e)) from None


def _looks_numeric(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


def iter_jsonl(lines: Iterable[bytes]) -> Iterator[tuple[int, msgspec.Raw | bytes]]:
    """Yield (line number, body) for non-blank JSONL lines."""
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if line:
            yield n, line


event_encoder = msgspec.msgpack.Encoder()
event_decoder = msgspec.msgpack.Decoder(Event)
