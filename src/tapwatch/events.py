"""Usage events: the wire contract of usage API v1 and the typed record tapwatch stores.

One event decodes alone: a bad event is rejected with a reason and never sinks its page.
The same field names serve the usage API (`GET /v1/events`), JSONL drops and CSV drops.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from tapwatch.timestamps import TimeError, parse_one


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
    too_long = "too_long"
    invalid_timestamp = "invalid_timestamp"
    unknown_event_type = "unknown_event_type"
    future_timestamp = "future_timestamp"
    too_old = "too_old"
    duplicate = "duplicate"
    not_an_object = "not_an_object"


#: Longest identifier accepted in `id`, `account`, `device` and `network` (characters): ids
#: are kept per event and pseudonyms per distinct id, so their size bounds tapwatch's memory.
MAX_ID_LENGTH = 128
#: Longest other string value accepted (characters).
MAX_STRING_LENGTH = 256
#: Plausible range of each numeric field, (low, high, low exclusive): a value outside is
#: rejected as invalid_value (1e308 seconds of study is not usage, and would break the
#: arithmetic of every page that shows it). Documented in docs/usage-api.md.
NUMERIC_RANGES: dict[str, tuple[float, float, bool]] = {
    "lat": (-90.0, 90.0, False),
    "lon": (-180.0, 180.0, False),
    "accuracy_m": (0.0, 100_000.0, False),
    "duration_s": (0.0, 86_400.0, False),
    "playback_rate": (0.0, 16.0, True),
    "position_s": (0.0, 86_400.0, False),
}

Ident = Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_STRING_LENGTH)]


class WireEvent(msgspec.Struct, kw_only=True, gc=False):
    """One event as an app sends it. Unknown fields are ignored.

    Types and string lengths are checked while decoding (in C, for a whole page at once);
    the rest (a time or `ts_ms`, the type name, numeric ranges, empty ids, lat with lon)
    on the columns of the page (see tapwatch.sources.normalise)."""

    id: Ident
    ts: str | float | None = None
    type: str
    account: Ident
    app: Text | None = None
    unit: Text | None = None
    device: Ident | None = None
    device_model: Text | None = None
    network: Ident | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    point: Text | None = None
    target: Text | None = None
    duration_s: float | None = None
    playback_rate: float | None = None
    position_s: float | None = None
    content_hash: Text | None = None
    photo_hash: Text | None = None
    ts_ms: float | None = None


class Event(msgspec.Struct, kw_only=True, array_like=True):
    """An accepted event as a record: epoch-seconds time, typed kind, and pseudonymised
    account, device and network (never the raw ids). Evidence pages show events this way;
    ingest and detectors work on columns (tapwatch.columns)."""

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
#: Fields whose absence rejects an event (`ts` may be replaced by `ts_ms`).
REQUIRED_FIELDS = ("id", "type", "account")
NUMERIC_FIELDS = frozenset(NUMERIC_RANGES) | {"ts_ms"}
ID_FIELDS = ("id", "account", "device", "network")


class EventRejected(ValueError):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_ts(value: str | float) -> float:
    """One `ts` value (RFC 3339 with an offset, or epoch seconds) to epoch seconds.
    Raises EventRejected (invalid_timestamp)."""
    try:
        return parse_one(value)
    except TimeError as e:
        raise EventRejected(RejectReason.invalid_timestamp, str(e)) from None


def classify(err: msgspec.ValidationError) -> RejectReason:
    """The reject reason of msgspec's complaint about one event."""
    msg = str(err)
    if msg.startswith("Object missing required field"):
        return RejectReason.missing_field
    if msg.startswith("Expected `object`"):
        return RejectReason.not_an_object
    if msg.startswith("Expected `str` of length <="):
        return RejectReason.too_long
    if " >= " in msg or " > " in msg or " <= " in msg:
        return RejectReason.invalid_value
    return RejectReason.invalid_type


#: Longest `next_cursor` accepted (characters): it is sent back in a URL and kept in the
#: store with each page; a cursor of megabytes is not a position. Longer: the page fails
#: as `schema`.
MAX_CURSOR_LENGTH = 1024
Cursor = Annotated[str, msgspec.Meta(max_length=MAX_CURSOR_LENGTH)]

_wire_decoder = msgspec.json.Decoder(WireEvent)


class _TypedPage(msgspec.Struct, gc=False):
    events: list[WireEvent]
    next_cursor: Cursor | None = None
    has_more: bool = False


class _RawPage(msgspec.Struct):
    events: list[msgspec.Raw]
    next_cursor: Cursor | None = None
    has_more: bool = False


_typed_page_decoder = msgspec.json.Decoder(_TypedPage)
_raw_page_decoder = msgspec.json.Decoder(_RawPage)


class Page(msgspec.Struct):
    """A decoded page of `GET /v1/events`: every event decoded in one call (`events`), or,
    when one of them does not decode, each event's raw body (`raw`) to be decoded alone;
    or (tapwatch.sources.normalise.decode_page) the page read into columns by the C
    extension (`native`), with its `body` for the reference path should the normaliser
    find an event to reject in it."""

    events: list[WireEvent] | None
    raw: list[msgspec.Raw] | None
    next_cursor: str | None
    has_more: bool
    native: Any = None
    body: bytes | None = None


class TooDeep(ValueError):
    """A JSON body nested deeper than the decoder goes (about Python's recursion limit,
    1,000 levels: no event needs more than two)."""

    def __init__(self) -> None:
        super().__init__("JSON nested too deeply")


def decode_page(body: bytes) -> Page:
    """Decode a page: the envelope and every event in one call where all events are well
    formed. Raises msgspec.DecodeError / ValidationError for a bad envelope, TooDeep for a
    body nested too deep."""
    try:
        try:
            p = _typed_page_decoder.decode(body)
        except msgspec.ValidationError:
            r = _raw_page_decoder.decode(body)  # a bad envelope raises here
            return Page(events=None, raw=r.events, next_cursor=r.next_cursor, has_more=r.has_more)
    except RecursionError:
        raise TooDeep() from None
    return Page(events=p.events, raw=None, next_cursor=p.next_cursor, has_more=p.has_more)


def decode_events(lines: list[bytes]) -> list[WireEvent] | None:
    """Decode JSON event bodies (JSONL lines, one event each) in one call; None if one of
    them does not decode as exactly one event (then each is decoded alone)."""
    return decode_jsonl(b"\n".join(lines), len(lines))


def decode_jsonl(block: bytes, lines: int) -> list[WireEvent] | None:
    """Decode a block of JSONL holding `lines` non-blank lines in one call; None unless
    each line is exactly one well-formed event."""
    try:
        events = _wire_decoder.decode_lines(block)
    except (msgspec.DecodeError, RecursionError):
        return None
    return events if len(events) == lines else None


def decode_wire(raw: bytes | msgspec.Raw) -> WireEvent:
    """Decode one event body (types and lengths only). Raises EventRejected."""
    try:
        return _wire_decoder.decode(raw)
    except msgspec.ValidationError as e:
        raise EventRejected(classify(e), str(e)) from None
    except msgspec.DecodeError as e:  # not even JSON
        raise EventRejected(RejectReason.not_an_object, str(e)) from None
    except RecursionError:
        raise EventRejected(RejectReason.not_an_object, str(TooDeep())) from None


event_encoder = msgspec.msgpack.Encoder()
event_decoder = msgspec.msgpack.Decoder(Event)
