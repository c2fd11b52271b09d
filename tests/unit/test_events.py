"""Decoding the usage API v1 wire format: each bad event rejected alone, with a reason; a
page decoded in one call; the documented bounds (id lengths, numeric ranges, times)."""

from __future__ import annotations

import gc
import json
from typing import Any

import msgspec
import numpy as np
import pytest

from tapwatch.events import (
    MAX_ID_LENGTH,
    MAX_STRING_LENGTH,
    EventRejected,
    EventType,
    RejectReason,
    TooDeep,
    decode_page,
    parse_ts,
)
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import EventNormaliser
from tapwatch.sources.normalise import check_event

GOOD = b'{"id":"e1","ts":"2026-03-02T08:30:00+08:00","type":"checkin","account":"u1","x":1}'
T = '"ts":1772411400'  # a valid epoch-seconds time for the rows below


def test_good_event_decodes_and_ignores_unknown_fields() -> None:
    w, ts, et = check_event(GOOD)
    assert (w.id, w.account, et) == ("e1", "u1", EventType.checkin)
    assert ts == 1772411400.0  # 2026-03-02T00:30:00Z


def ev(fields: str) -> bytes:
    return ("{" + fields + "}").encode()


# Every rule a single event can break, with the reason it is counted under. Reasons are
# checked in a fixed order, so an event breaking two rules counts under the first.
BAD_EVENTS = [
    (ev(f'{T},"type":"read","account":"u"'), RejectReason.missing_field),
    (ev('"id":"1","type":"read","account":"u"'), RejectReason.missing_field),  # no time
    (ev(f'"id":"1",{T},"type":"read","account":5'), RejectReason.invalid_type),
    (ev(f'"id":"1",{T},"type":"read","account":"u","lat":"north","lon":1'),
     RejectReason.invalid_type),
    (ev(f'"id":"{"i" * (MAX_ID_LENGTH + 1)}",{T},"type":"read","account":"u"'),
     RejectReason.too_long),
    (ev(f'"id":"1",{T},"type":"read","account":"{"a" * (MAX_ID_LENGTH + 1)}"'),
     RejectReason.too_long),
    (ev(f'"id":"1",{T},"type":"read","account":"u","device":"{"d" * 129}"'),
     RejectReason.too_long),
    (ev(f'"id":"1",{T},"type":"read","account":"u","unit":"{"u" * (MAX_STRING_LENGTH + 1)}"'),
     RejectReason.too_long),
    (ev(f'"id":"",{T},"type":"read","account":"u"'), RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"read","account":""'), RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"read","account":"u","lat":91,"lon":0'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"read","account":"u","lat":0,"lon":-180.5'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"read","account":"u","lat":30'), RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"read","account":"u","accuracy_m":-1'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"read","account":"u","accuracy_m":100001'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"study","account":"u","duration_s":1e308'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"study","account":"u","duration_s":86401'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"study","account":"u","playback_rate":0'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"study","account":"u","playback_rate":16.5'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"study","account":"u","position_s":-0.1'),
     RejectReason.invalid_value),
    (ev(f'"id":"1",{T},"type":"study","account":"u","position_s":1e9'),
     RejectReason.invalid_value),
    (ev('"id":"1","ts":"2026-03-02T08:30:00","type":"read","account":"u"'),
     RejectReason.invalid_timestamp),
    (ev('"id":"1","ts":"soon","type":"read","account":"u"'), RejectReason.invalid_timestamp),
    (ev('"id":"1","ts":-5,"type":"read","account":"u"'), RejectReason.invalid_timestamp),
    (ev('"id":"1","ts":1e300,"type":"read","account":"u"'), RejectReason.invalid_timestamp),
    (ev('"id":"1","ts":"1999-12-31T23:59:59Z","type":"read","account":"u"'),
     RejectReason.invalid_timestamp),
    (ev('"id":"1","ts":"2100-01-01T00:00:00Z","type":"read","account":"u"'),
     RejectReason.invalid_timestamp),
    (ev('"id":"1","ts":"2026-02-29T00:00:00Z","type":"read","account":"u"'),
     RejectReason.invalid_timestamp),
    (ev('"id":"1","ts_ms":1e300,"type":"read","account":"u"'), RejectReason.invalid_timestamp),
    (ev(f'"id":"1",{T},"type":"teleport","account":"u"'), RejectReason.unknown_event_type),
    (b"[1,2]", RejectReason.not_an_object),
    (b'{"id": "1", oops', RejectReason.not_an_object),
    (b'{"id":"1","ts":1772411400,"type":"read","account":"u","junk":' + b"[" * 5000
     + b"]" * 5000 + b"}", RejectReason.not_an_object),
]


@pytest.mark.parametrize(("body", "reason"), BAD_EVENTS)
def test_bad_event_is_rejected_with_reason(body: bytes, reason: RejectReason) -> None:
    with pytest.raises(EventRejected) as e:
        check_event(body)
    assert e.value.reason is reason


def test_a_page_of_bad_events_counts_each_under_its_reason() -> None:
    """The same table as one page (less the bodies that are not JSON, which make the whole
    page undecodable): every event rejected once, under the same reason, the page kept,
    and the good events around them accepted."""
    table = [(b, r) for b, r in BAD_EVENTS if b"oops" not in b and b"[[[" not in b]
    bodies = [GOOD.replace(b"e1", b"g0")]
    for i, (body, _) in enumerate(table):
        bodies += [body, GOOD.replace(b"e1", b"g%d" % (i + 1))]
    page = decode_page(b'{"events":[' + b",".join(bodies) + b'],"has_more":false}')
    assert page.events is None and page.raw is not None  # one does not decode: per event
    norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
    cols = norm.from_page(page)
    assert cols.ids == [f"g{i}" for i in range(len(table) + 1)]
    want: dict[str, int] = {}
    for _, reason in table:
        want[reason.value] = want.get(reason.value, 0) + 1
    assert norm.take_rejected() == want


def test_a_page_that_decodes_whole_is_validated_as_columns() -> None:
    """Bad values msgspec cannot see (ranges, times, type names) in a page that decodes in
    one call are rejected by the array checks, with the same reasons."""
    good = [json.loads(GOOD) | {"id": f"g{i}"} for i in range(3)]
    bad = [
        {"id": "b1", "ts": 1772411400, "type": "study", "account": "u", "duration_s": 1e308},
        {"id": "b2", "ts": "2026-02-30T00:00:00+08:00", "type": "read", "account": "u"},
        {"id": "b3", "ts": 1772411400, "type": "teleport", "account": "u"},
        {"id": "b4", "ts_ms": 1772411400000, "type": "read", "account": "u", "lon": 3},
        {"id": "", "ts": 1772411400, "type": "read", "account": "u"},
    ]
    body = msgspec.json.encode({"events": [good[0], *bad, *good[1:]], "has_more": True})
    page = decode_page(body)
    assert page.events is not None  # decoded in one call
    norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
    cols = norm.from_page(page)
    assert cols.ids == ["g0", "g1", "g2"]
    assert norm.take_rejected() == {
        "invalid_value": 3, "invalid_timestamp": 1, "unknown_event_type": 1,
    }


def test_ts_ms_replaces_ts() -> None:
    norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
    page = decode_page(
        b'{"events":[{"id":"a","ts_ms":1772411400250,"type":"read","account":"u"},'
        b'{"id":"b","ts":"2026-03-02T08:30:00.25+08:00","type":"read","account":"u"},'
        b'{"id":"c","ts":"not read","ts_ms":1772411400250,"type":"read","account":"u"}],'
        b'"has_more":false}'
    )
    cols = norm.from_page(page)
    assert cols.ts.tolist() == [1772411400.25] * 3
    assert not norm.take_rejected()


def test_page_envelope_errors_are_raised() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_page(b'{"events": 5}')
    with pytest.raises(msgspec.DecodeError):
        decode_page(b"<html>")
    # nested 200k levels, even in an unknown field: a clean error, not a RecursionError
    with pytest.raises(TooDeep):
        decode_page(b'{"events":[],"x":' + b"[" * 200_000 + b"]" * 200_000 + b"}")


def test_clock_checks_and_pseudonyms() -> None:
    p = Pseudonymizer(b"k" * 32)
    now = 1_780_000_000.0
    norm = EventNormaliser("app", p, now=now, max_clock_skew=60, oldest_accepted=now - 900)
    mk = '{"id":"%s","ts":%d,"type":"read","account":"alice","device":"d1"}'
    bodies = [
        (mk % (i, t)).encode()
        for i, t in (("a", now + 59), ("b", now + 61), ("c", now - 901), ("d", now - 500))
    ]
    cols = norm.from_bodies(bodies)
    assert cols.ids == ["a", "d"]
    assert norm.take_rejected() == {"future_timestamp": 1, "too_old": 1}
    assert cols.accounts == [p.account("alice")] and p.account("alice") != "alice"
    device = cols.strings[cols.optional["device"][0]]
    assert device == p.device("d1") != cols.accounts[0]  # domain separation
    assert len(cols.accounts[0]) == 16


def test_csv_rows() -> None:
    norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
    cols = norm.from_rows(
        [
            {"id": "1", "ts": "1772411400", "type": "study", "account": "u", "duration_s": "60",
             "lat": "", "lon": ""},
            {"id": "2", "ts": "1772411400", "type": "study", "account": "u",
             "duration_s": "long"},
            {"id": "3", "ts": "1772411400", "type": "study", "account": "u",
             "duration_s": "nan"},
            {"id": "4", "ts": "2026-03-02T08:30:00+08:00", "type": "read", "account": "u",
             None: ["extra", "cells"]},
        ]
    )
    assert cols.ids == ["1", "4"]
    assert cols.ts.tolist() == [1772411400.0] * 2
    assert cols.optional["duration_s"][0] == 60.0 and "lat" not in cols.optional
    assert norm.take_rejected() == {"invalid_type": 1, "invalid_value": 1}


def test_columns_from_an_adapter() -> None:
    """An adapter with arrays: types, lengths, required fields and ranges are checked as
    they would be in JSON."""
    norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
    cols = norm.from_columns(
        {
            "id": ["a", "b", "c", "d", None, "f"],
            "ts_ms": [1772411400000, 1772411401000, 1772411402000, 1772411403000,
                      1772411404000, 1772411405000],
            "type": ["read", "read", 7, "read", "read", "read"],
            "account": ["u1", "u2", "u3", "x" * 200, "u5", "u6"],
            "duration_s": [1.0, None, None, None, None, 1e308],
        }
    )
    assert cols.ids == ["a", "b"]
    assert norm.take_rejected() == {
        "missing_field": 1, "invalid_type": 1, "too_long": 1, "invalid_value": 1,
    }
    with pytest.raises(ValueError, match="unequal lengths"):
        norm.from_columns({"id": ["a"], "type": []})


def test_parse_ts_accepts_z_and_offsets() -> None:
    assert parse_ts("2026-01-01T00:00:00Z") == parse_ts("2026-01-01T08:00:00+08:00")
    assert parse_ts(1772411400.5) == 1772411400.5
    with pytest.raises(EventRejected):
        parse_ts(1.5)  # 1970: outside the plausible range


def test_published_event_schema_matches_the_decoder() -> None:
    """docs/schemas/event.schema.json and the daemon's decoder name the same fields, the
    same limits and the same ranges."""
    from pathlib import Path

    from tapwatch.events import ID_FIELDS, NUMERIC_RANGES, WIRE_FIELDS

    schema = json.loads(
        (Path(__file__).parents[2] / "docs" / "schemas" / "event.schema.json").read_text()
    )
    props = schema["properties"]
    assert sorted(props) == sorted(WIRE_FIELDS)
    assert sorted(schema["required"]) == ["account", "id", "type"]
    assert schema["anyOf"] == [{"required": ["ts"]}, {"required": ["ts_ms"]}]
    types = props["type"]
    names = types.get("enum") or [v for alt in types.get("anyOf", []) for v in alt.get("enum", [])]
    assert sorted(names) == sorted(t.name for t in EventType)
    for f in WIRE_FIELDS:
        if props[f].get("type") in ("string", ["string", "null"]):
            limit = MAX_ID_LENGTH if f in ID_FIELDS else MAX_STRING_LENGTH
            assert props[f]["maxLength"] == limit, f
    for f, (lo, hi, open_low) in NUMERIC_RANGES.items():
        assert props[f]["exclusiveMinimum" if open_low else "minimum"] == lo, f
        assert props[f]["maximum"] == hi, f


def test_a_column_absent_from_the_first_events_is_kept() -> None:
    """Whether a column is present is decided without counting when its first event has a
    value; a column whose first events lack it must still be taken whole (strings, floats
    and `ts_ms`)."""
    rows = [
        {"id": "a", "ts": 1772411400, "type": "study", "account": "u"},
        {"id": "b", "ts": 1772411400, "type": "study", "account": "u"},
        {"id": "c", "ts_ms": 1772411401500, "type": "study", "account": "v", "device": "d",
         "duration_s": 30.0},
    ]
    page = decode_page(msgspec.json.encode({"events": rows, "has_more": False}))
    p = Pseudonymizer(b"k" * 32)
    cols = EventNormaliser("app", p, 1.9e9, 600, 0).from_page(page)
    assert cols.ts.tolist() == [1772411400.0, 1772411400.0, 1772411401.5]
    assert cols.optional["device"].tolist() == [-1, -1, 0]
    assert cols.strings == [p.device("d")]
    assert cols.optional["duration_s"][2] == 30.0
    assert np.isnan(cols.optional["duration_s"][:2]).all()
    assert "lat" not in cols.optional and "unit" not in cols.optional


@pytest.mark.parametrize("enabled", [True, False])
def test_normalising_a_page_leaves_the_garbage_collector_as_it_was(enabled: bool) -> None:
    """The collector is held off while a page is transposed, and left as the caller had
    it (on, or off if the caller turned it off)."""
    page = decode_page(b'{"events":[' + GOOD + b'],"has_more":false}')
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
        assert list(norm.from_page(page).ids) == ["e1"]
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_column_lookups_give_each_value_its_code(n: int) -> None:
    """String codes and type codes of a column: every length (one value is looked up
    alone), absent values coded -1, unknown type names the unknown code."""
    from tapwatch.sources.normalise import _TYPE_CODE, _UNKNOWN_TYPE, looked_up

    col = [None if i % 7 == 3 else f"v{i % 5}" for i in range(n)]
    codes: dict[str | None, int] = {f"v{k}": 10 * k for k in range(5)}
    codes[None] = -1
    got = looked_up(codes, col)
    assert got.dtype == np.int32 and got.tolist() == [codes[v] for v in col]
    names = [("checkin", "no_such_type", None)[i % 3] for i in range(n)]
    types = looked_up(_TYPE_CODE, names, np.uint8)
    want = [int(EventType.checkin) if v == "checkin" else _UNKNOWN_TYPE for v in names]
    assert types.dtype == np.uint8 and types.tolist() == want


@pytest.mark.parametrize("seed", range(6))
def test_numeric_ranges_of_a_page_are_judged_as_each_event_alone(seed: int) -> None:
    """A page's ranges are checked on its columns (a column whose smallest and largest
    values are in range is passed whole); each event is accepted or rejected, and for the
    same reason, as when it is checked alone: bounds included (the open lower bound of
    playback_rate excluded), absent values, NaN written as text, infinities."""
    import random

    from tapwatch.events import NUMERIC_RANGES

    rng = random.Random(seed)
    # few unusual values (a column mostly in range, as real ones are), or many
    unusual = rng.choice([0.0, 0.01, 0.3])
    # bounds, NaN and absent values alone (a column's others in range: passed whole, but
    # for its NaN), or with values beyond the bounds too
    beyond = seed % 2 == 0
    rows = []
    for i in range(400):
        row: dict[str, Any] = {"id": f"e{i}", "ts": "1772411400", "type": "study",
                                  "account": f"u{i % 7}"}
        for f, (lo, hi, _) in NUMERIC_RANGES.items():
            if rng.random() < unusual:
                odd = [lo, hi, "nan", "", None]
                v = rng.choice([*odd, lo - 0.5, hi + 0.5, "inf", "-inf"] if beyond else odd)
            else:
                v = rng.uniform(lo, hi) if f not in ("lat", "lon") or i % 3 else None
            row[f] = v if v is None or isinstance(v, str) else repr(v)
        if row["lat"] in ("", None) or row["lon"] in ("", None):
            row["lat"] = row["lon"] = None  # lat without lon is another rule
        rows.append(row)
    norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
    cols = norm.from_rows(rows)
    want_ids, want_rejected = [], {}
    for row in rows:
        one = EventNormaliser("app", Pseudonymizer(b"k" * 32), 1.9e9, 600, 0)
        if len(one.from_rows([row])):
            want_ids.append(row["id"])
        for reason, count in one.take_rejected().items():
            want_rejected[reason] = want_rejected.get(reason, 0) + count
    assert cols.ids == want_ids
    assert norm.take_rejected() == want_rejected
    if unusual:
        assert want_rejected  # the page had values out of range
