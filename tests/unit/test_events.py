"""Decoding the usage API v1 wire format: each bad event rejected alone, with a reason."""

from __future__ import annotations

import msgspec
import pytest

from tapwatch.events import (
    EventRejected,
    EventType,
    RejectReason,
    decode_event,
    decode_page,
    parse_ts,
    wire_from_mapping,
)
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import EventNormaliser

GOOD = b'{"id":"e1","ts":"2026-03-02T08:30:00+08:00","type":"checkin","account":"u1","x":1}'


def test_good_event_decodes_and_ignores_unknown_fields() -> None:
    w, ts, et = decode_event(GOOD)
    assert (w.id, w.account, et) == ("e1", "u1", EventType.checkin)
    assert ts == 1772411400.0  # 2026-03-02T00:30:00Z


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"ts":1,"type":"read","account":"u"}', RejectReason.missing_field),
        (b'{"id":"1","ts":1,"type":"read","account":5}', RejectReason.invalid_type),
        (b'{"id":"","ts":1,"type":"read","account":"u"}', RejectReason.invalid_value),
        (b'{"id":"1","ts":1,"type":"read","account":"u","lat":91,"lon":0}',
         RejectReason.invalid_value),
        (b'{"id":"1","ts":1,"type":"read","account":"u","lat":30}', RejectReason.invalid_value),
        (b'{"id":"1","ts":1,"type":"read","account":"u","playback_rate":0}',
         RejectReason.invalid_value),
        (b'{"id":"1","ts":"2026-03-02T08:30:00","type":"read","account":"u"}',
         RejectReason.invalid_timestamp),
        (b'{"id":"1","ts":"soon","type":"read","account":"u"}', RejectReason.invalid_timestamp),
        (b'{"id":"1","ts":-5,"type":"read","account":"u"}', RejectReason.invalid_timestamp),
        (b'{"id":"1","ts":1,"type":"teleport","account":"u"}', RejectReason.unknown_event_type),
        (b'[1,2]', RejectReason.not_an_object),
        (b'{"id": "1", oops', RejectReason.not_an_object),
    ],
)
def test_bad_event_is_rejected_with_reason(body: bytes, reason: RejectReason) -> None:
    with pytest.raises(EventRejected) as e:
        decode_event(body)
    assert e.value.reason is reason


def test_a_bad_event_never_sinks_its_page() -> None:
    page = decode_page(
        b'{"events":[' + GOOD + b',{"id":"e2"},' + GOOD.replace(b"e1", b"e3")
        + b'],"next_cursor":"c9","has_more":true}'
    )
    norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
    events = [e for raw in page.events if (e := norm.from_raw(raw)) is not None]
    assert [e.id for e in events] == ["e1", "e3"]
    assert norm.take_rejected() == {"missing_field": 1}
    assert (page.next_cursor, page.has_more) == ("c9", True)


def test_page_envelope_errors_are_raised() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_page(b'{"events": 5}')
    with pytest.raises(msgspec.DecodeError):
        decode_page(b"<html>")


def test_clock_checks_and_pseudonyms() -> None:
    p = Pseudonymizer(b"k" * 32)
    norm = EventNormaliser("app", p, now=1000.0, max_clock_skew=60, oldest_accepted=100.0)
    mk = b'{"id":"%s","ts":%d,"type":"read","account":"alice","device":"d1"}'
    assert norm.from_raw(mk % (b"a", 1059)) is not None
    assert norm.from_raw(mk % (b"b", 1061)) is None
    assert norm.from_raw(mk % (b"c", 99)) is None
    assert norm.take_rejected() == {"future_timestamp": 1, "too_old": 1}
    e = norm.from_raw(mk % (b"d", 500))
    assert e is not None and e.account == p.account("alice") != "alice"
    assert e.device == p.device("d1") and e.device != e.account  # domain separation
    assert len(e.account) == 16


def test_csv_row_mapping() -> None:
    w = wire_from_mapping(
        {"id": "1", "ts": "1700000000", "type": "study", "account": "u", "duration_s": "60",
         "lat": "", "lon": ""}
    )
    assert (w.ts, w.duration_s, w.lat) == (1700000000.0, 60.0, None)
    with pytest.raises(EventRejected) as e:
        wire_from_mapping({"id": "1", "ts": "1", "type": "study", "account": "u",
                           "duration_s": "long"})
    assert e.value.reason is RejectReason.invalid_type


def test_parse_ts_accepts_z_and_offsets() -> None:
    assert parse_ts("2026-01-01T00:00:00Z") == parse_ts("2026-01-01T08:00:00+08:00")
    assert parse_ts(1.5) == 1.5


def test_published_event_schema_matches_the_decoder() -> None:
    """docs/schemas/event.schema.json and the daemon's decoder name the same fields."""
    import json
    from pathlib import Path

    from tapwatch.events import WIRE_FIELDS

    schema = json.loads(
        (Path(__file__).parents[2] / "docs" / "schemas" / "event.schema.json").read_text()
    )
    assert sorted(schema["properties"]) == sorted(WIRE_FIELDS)
    assert sorted(schema["required"]) == ["account", "id", "ts", "type"]
    types = schema["properties"]["type"]
    names = types.get("enum") or [v for alt in types.get("anyOf", []) for v in alt.get("enum", [])]
    assert sorted(names) == sorted(t.name for t in EventType)
