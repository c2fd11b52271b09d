"""The whole-page fast path (`_fastpage.page` + `EventNormaliser._from_native`) against
the reference (msgspec's decode of the page, then the normaliser in Python): for every
input, either C declines it (None: the reference path then runs) or the two give exactly
the same columns, rejects, reports and envelope. On simulator pages, pages with every
field, hostile events, and a few thousand random mutations of real pages (fixed seed)."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tapwatch.sources.normalise as normalise
from tapwatch.events import TooDeep
from tapwatch.events import decode_page as reference_decode
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator.fleet import SimulatorOptions
from tapwatch.sources.normalise import EventNormaliser
from tapwatch.timestamps import TS_MAX, TS_MIN
from tests.unit.test_normalise_native import (
    HOSTILE_EVENTS,
    KEY,
    NOW,
    Recorded,
    assert_same,
    page_of,
    sim_fleet,
    simulator_pages,
)

if os.environ.get("TAPWATCH_NATIVE", "1").strip() == "0":
    pytest.skip("TAPWATCH_NATIVE=0: the C extension is turned off", allow_module_level=True)
NATIVE = normalise.native
assert NATIVE is not None, "tapwatch.sources._fastpage did not import"


def outcome(body: bytes, now: float, fast: bool) -> Any:
    """What a poll makes of one page body: ('refused', exception type) when the page does
    not decode, else (columns, rejected counts, reject reports, events counted, cursor,
    has_more, whether the C path read it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(normalise, "native", NATIVE if fast else None)
        try:
            page = normalise.decode_page(body) if fast else reference_decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, TooDeep) as e:
            return ("refused", type(e))
        rec = Recorded()
        norm = EventNormaliser("app", Pseudonymizer(KEY), now, 600, now - 400 * 86400, rec)
        cols = norm.from_page(page)
        fetched = rec._events
        return (
            cols,
            norm.take_rejected(),
            rec.reports,
            fetched,
            page.next_cursor,
            page.has_more,
            page.native is not None,
        )


def same(body: bytes, now: float = NOW) -> bool:
    """Assert the fast and the reference path agree on `body`; whether C read it."""
    a = outcome(body, now, fast=True)
    b = outcome(body, now, fast=False)
    if a[0] == "refused" or b[0] == "refused":
        assert a == b
        return False
    assert_same(a[0], b[0])
    assert type(a[0].ids) is type(b[0].ids)
    assert a[1:6] == b[1:6]
    return a[6]


def test_simulator_pages_take_the_fast_path_and_give_the_same() -> None:
    pages, now = simulator_pages(apps=4, limit=1000)
    assert len(pages) >= 8
    for body in pages:
        assert NATIVE.page(body, TS_MIN, TS_MAX) is not None
        assert same(body, now)


def _event(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "ts": "2026-03-02T08:30:00+08:00",
        "type": "checkin",
        "account": f"u{i % 4}",
        **fields,
    }


#: events with every field, of each value type C takes
RICH = [
    _event(
        0,
        app="a",
        unit="unit-1",
        device="d1",
        device_model="M",
        network="10.0.0.0/24",
        lat=31.2304,
        lon=121.4737,
        accuracy_m=12,
        point="gate",
        photo_hash="p1",
    ),
    _event(
        1,
        lat=-33.8688197,
        lon=151.20929550000001,
        accuracy_m=0.5,
        point="gate",
        content_hash="c1",
        target="t1",
        duration_s=3600,
        playback_rate=1.25,
        position_s=0,
        ts="2026-03-02T00:30:00.123456Z",
    ),
    _event(
        2,
        unit=None,
        device=None,
        lat=None,
        lon=None,
        target="t1",
        duration_s=0.0,
        ts="2026-03-01T08:30:00.5-05:00",
        type="read",
    ),
    _event(
        3,
        unit="é中😀",
        device="dev-\u00e9",
        app="\u4e2d" * 256,
        extra=3,
        ts_ms=None,
        position_s=86400,
        playback_rate=16,
    ),
    _event(4, account="a" * 128, id="i" * 128, device_model="m" * 256, lat=-90, lon=-180),
    _event(5, type="study", duration_s=12.5, position_s=100.25, unused="x"),
]


def rich_page(events: list[dict[str, Any]] = RICH, **envelope: Any) -> bytes:
    return msgspec.json.encode(
        {"events": events, "next_cursor": "c1", "has_more": True, **envelope}
    )


def test_every_field_and_value_type() -> None:
    assert same(rich_page())
    assert same(rich_page(RICH * 3))
    assert same(rich_page([]))
    assert same(b'{"events":[]}')
    assert same(b' {"has_more" : false , "x":1.5,"events" :\n[ ] ,"next_cursor":null}\r\n')
    assert same(rich_page(next_cursor="\u00e9" * 1024))


@pytest.mark.parametrize(
    "change",
    [
        {"type": "teleport"},  # an unknown type
        {"lat": 91},  # out of range
        {"lat": None},  # lon without lat
        {"playback_rate": 0},  # the open low bound
        {"ts": "2030-01-01T00:00:00Z"},  # beyond the clock skew
        {"ts": "2000-01-02T00:00:00Z"},  # older than accepted
    ],
)
def test_events_to_reject_take_the_reference_path(change: dict[str, Any]) -> None:
    """C reads these (they are well-formed); the normaliser finds one to reject and the
    reference path decides: the same rejects, counted once."""
    events = [*RICH[:3], {**RICH[0], "id": "bad", **change}, *RICH[3:]]
    body = rich_page(events)
    assert NATIVE.page(body, TS_MIN, TS_MAX) is not None
    assert same(body)
    assert outcome(body, NOW, fast=True)[1]  # a reject was counted


@pytest.mark.parametrize("event", HOSTILE_EVENTS)
def test_hostile_events_among_good_ones(event: bytes) -> None:
    good = [msgspec.json.encode(e) for e in RICH]
    same(page_of([*good[:2], event, *good[2:], event]))


DECLINED = [
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u\\u0041"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u",'
    b'"lat":1e2,"lon":1}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u",'
    b'"lat":-0,"lon":1}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u",'
    b'"lat":1.000000000000000001,"lon":1}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02 08:30:00Z","type":"checkin","account":"u"}]}',
    b'{"events":[{"id":"a","ts":946684799.5,"type":"checkin","account":"u"}]}',
    b'{"events":[{"id":"a","ts":4102444800,"type":"checkin","account":"u"}]}',
    b'{"events":[{"id":"a","ts_ms":1772411400000,"ts":"2026-03-02T08:30:00Z","type":"checkin",'
    b'"account":"u"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u"}],'
    b'"events":[]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u"}],'
    b'"x":{"y":1}}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u"}]} x',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u"},]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\xed\xa0\x80"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\xc0\xaf"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\xf4\x90\x80\x80"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"a\tb"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u",'
    b'"device":"' + b"d" * 129 + b'"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u",'
    b'"unit":"' + "é".encode() * 257 + b'"}]}',
    b'{"events":[{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u"}],'
    b'"next_cursor":"' + b"c" * 1025 + b'"}',
    b"\xef\xbb\xbf" + b'{"events":[]}',
    b'{"events":[' + b"[" * 100_000,
    b'{"events":[], "x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


@pytest.mark.parametrize("body", DECLINED, ids=range(len(DECLINED)))
def test_what_c_declines(body: bytes) -> None:
    """Uncommon but possibly valid pages: C answers None, the reference decides."""
    assert NATIVE.page(body, TS_MIN, TS_MAX) is None
    same(body)


def test_c_reads_what_it_is_said_to() -> None:
    got = NATIVE.page(rich_page(RICH[:2]), TS_MIN, TS_MAX)
    ids, ts, strings, numbers, cursor, more = got
    assert ids == ("e0", "e1") and cursor == "c1" and more is True
    assert len(ts) == 16 and len(strings) == 10 and len(numbers) == 6
    assert strings[0][1] == ["checkin"] and strings[1][1] == ["u0", "u1"]
    assert numbers[3] is not None and numbers[4] is not None  # duration_s, playback_rate
    with pytest.raises(TypeError):
        NATIVE.page("not bytes", TS_MIN, TS_MAX)
    with pytest.raises(TypeError):
        NATIVE.page(b"{}", TS_MIN)


# ---- mutations ---------------------------------------------------------------------------

TOKENS = [
    b"\\",
    b"\\n",
    b"\\u00e9",
    b"\\ud800",
    "é".encode(),
    "😀".encode(),
    b"\xff",
    b"\x80",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xe0\x80\x80",
    b"\xf4\x90\x80\x80",
    b"\xf0\x9f\x98",
    b'"',
    b",",
    b":",
    b"{",
    b"}",
    b"[",
    b"]",
    b" ",
    b"\n",
    b"\x00",
    b"\x1f",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"-",
    b"0.",
    b"01",
    b"123456789012345678",
    b"0.12345678901234567",
    b"1.5E3",
    b"NaN",
    b"Infinity",
    b"[" * 300,
    b'"x":' + b"[" * 50 + b"]" * 50 + b",",
    b'"id":"dup",',
    b'"account":"dup",',
    b'"lat":1,',
    b'"ts_ms":1772411400000,',
    b'"has_more":true,',
    b'"events":[],',
    b'"zz":"x",',
]
VALUES = [
    b'""',
    b'"x"',
    b"null",
    b"true",
    b"false",
    b"0",
    b"-1",
    b"1.5",
    b"91",
    b"-0.0",
    b"1e5",
    b"12345678901234567",
    b"123456789012345678",
    b'"2026-03-02T08:30:00Z"',
    b"[]",
    b"{}",
    b'"' + b"y" * 129 + b'"',
    b'"' + b"y" * 257 + b'"',
    b'"\\u0079"',
    b'"\xe4\xb8\xad"',
    b'"2026-03-02T08:30:00.1234567Z"',
    b'"2026-02-29T08:30:00Z"',
    b'"2026-03-02T08:30:00+0800"',
]


def mutate(rng: random.Random, body: bytes) -> bytes:
    kind = rng.randrange(8)
    at = rng.randrange(len(body) + 1)
    if kind >= 6:  # usually still valid: white space after a comma, text in a string
        marks = [i for i in range(len(body)) if body[i : i + 2] in (b',"', b':"')]
        if not marks:
            return body
        at = rng.choice(marks) + (1 if kind == 6 else 2)
        return (
            body[:at] + rng.choice([b" ", b"\n\t", "é".encode(), "中😀".encode(), b"z"]) + body[at:]
        )
    if kind == 0:  # cut
        return body[:at]
    if kind == 1:  # a byte replaced
        if at == len(body):
            at -= 1
        return body[:at] + bytes([rng.randrange(256)]) + body[at + 1 :]
    if kind == 2:  # a token inserted
        return body[:at] + rng.choice(TOKENS) + body[at:]
    if kind == 3:  # a field's value replaced
        keys = [i for i in range(len(body)) if body[i : i + 2] == b'":']
        if not keys:
            return body
        start = rng.choice(keys) + 2
        end = start
        while end < len(body) and body[end] not in b",}]":
            end += 1
        return body[:start] + rng.choice(VALUES) + body[end:]
    if kind == 4:  # a key duplicated
        keys = [i for i in range(len(body)) if body[i : i + 1] == b"{"]
        if not keys:
            return body
        at = rng.choice(keys) + 1
        end = body.find(b",", at)
        if end < 0:
            return body
        return body[:at] + body[at : end + 1] + body[at:]
    return mutate(rng, mutate(rng, body))  # two at once


def test_mutated_pages_give_the_reference_or_none() -> None:
    rng = random.Random(11)
    pages, now = simulator_pages(apps=2, limit=50)
    small = [
        *pages[:6],
        rich_page(RICH),
        rich_page(RICH[2:] + RICH[:2], has_more=False),
    ]
    assert all(reference_decode(b).events is not None for b in small)
    read = declined = 0
    for case in range(4000):
        body = mutate(rng, small[case % len(small)])
        got = NATIVE.page(body, TS_MIN, TS_MAX)
        if got is None:
            declined += 1
            continue
        read += 1
        # C took it: msgspec must decode every event of it as typed, and the columns agree
        page = reference_decode(body)
        assert page.events is not None, body
        assert (page.next_cursor, page.has_more) == got[4:6]
        assert same(body, now if case % len(small) < 6 else NOW), body
    assert read > 600 and declined > 1000  # both paths were exercised


def test_native_off_keeps_the_python_path(tmp_path: Path) -> None:
    code = (
        "import tapwatch.sources.normalise as n;"
        'p = n.decode_page(b\'{"events":[],"has_more":false}\');'
        "print(n.native is None, p.native is None, p.events == [])"
    )
    env = {**os.environ, "TAPWATCH_NATIVE": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.split() == ["True", "True", "True"]


def test_distinct_strings_carry_the_hash_python_gives_them() -> None:
    """C keeps the keyed hash it computed in each ASCII string it makes (the pseudonym
    cache then looks them up without hashing them again): it must be CPython's own."""
    got = NATIVE.page(rich_page(RICH * 2), TS_MIN, TS_MAX)
    keys = [k for col in got[2] if col is not None for k in col[1]]
    assert len(keys) > 15 and any(not k.isascii() for k in keys)
    for k in keys:
        assert hash(k) == hash("".join(list(k))), k  # a fresh copy hashes itself


def test_numbers_read_as_msgspec_reads_them() -> None:
    """Every number C takes (at most 17 digits, no exponent) is the double msgspec gives,
    bit for bit: shortest reprs of random doubles, random decimals of 1 to 17 digits,
    integers, halfway cases."""
    rng = random.Random(5)
    texts: list[str] = ["0", "0.0", "-0.0", "1", "-1", "9007199254740993", "0.1", "2.675"]
    for _ in range(3000):
        texts.append(repr(rng.uniform(-1e6, 1e6)))
        digits = rng.randrange(1, 18)
        whole = rng.randrange(0, digits + 1)
        s = "".join(rng.choice("0123456789") for _ in range(digits))
        s = (s[:whole].lstrip("0") or "0") + ("." + s[whole:] if whole < digits else "")
        texts.append(("-" if rng.random() < 0.3 else "") + s)
    texts = [t for t in texts if "e" not in t]
    events = b",".join(
        b'{"id":"e%d","ts":"2026-03-02T08:30:00Z","type":"read","account":"u","lat":%s}'
        % (i, t.encode())
        for i, t in enumerate(texts)
    )
    body = b'{"events":[' + events + b"]}"
    got = NATIVE.page(body, TS_MIN, TS_MAX)
    want = [e.lat for e in reference_decode(body).events]
    if got is None:  # one of them is not taken (18 digits after a leading zero, "-0"...)
        taken = []
        for t, w in zip(texts, want, strict=True):
            one = b'{"events":[{"id":"e","ts":"2026-03-02T08:30:00Z","type":"read",'
            g = NATIVE.page(one + b'"account":"u","lat":' + t.encode() + b"}]}", TS_MIN, TS_MAX)
            if g is not None:
                taken.append(t)
                assert struct.pack("<d", w) == bytes(g[3][0]), t
        assert len(taken) > 5000
        return
    assert bytes(got[3][0]) == struct.pack(f"<{len(want)}d", *want)


def test_a_large_page_of_distinct_strings() -> None:
    """70,000 events, every account and device distinct (the arrays and tables grow many
    times over, the table beyond the size kept for the next page): the same as the
    reference; then a small page after it."""
    events = b",".join(
        b'{"id":"e%d","ts":"2026-03-02T08:30:00Z","type":"read","account":"acct-%d",'
        b'"device":"d%d","unit":"u%d"}' % (i, i, i * 7, i % 13)
        for i in range(70_000)
    )
    body = b'{"events":[' + events + b'],"has_more":false}'
    assert len(body) > 7_000_000
    got = NATIVE.page(body, TS_MIN, TS_MAX)
    assert got is not None and len(got[2][1][1]) == 70_000
    assert same(body)
    assert same(rich_page(RICH))


def test_times_as_epoch_seconds() -> None:
    """A numeric `ts` (epoch seconds, int or float, alone or among RFC 3339 strings) is read
    as msgspec reads it; one outside 2000 .. 2100 is declined (the reference rejects it)."""
    events = [
        _event(0, ts=1772411400),
        _event(1, ts=1772411399.917),
        _event(2),
        _event(3, ts=946684800),
        _event(4, ts=1772411400.000001),
    ]
    for page in (events, events[:2], events[3:]):
        body = rich_page(page)
        assert NATIVE.page(body, TS_MIN, TS_MAX) is not None
        assert same(body)


def test_every_simulator_app() -> None:
    """One to three pages of each app the simulator serves (check-ins with coordinates,
    study timers, numeric times, faults): the same as the reference, read or declined."""
    fleet = sim_fleet(SimulatorOptions(history_days=2, scale=0.3))
    now = fleet.clock.now()
    read = pages = 0
    for app in list(fleet.by_id):
        pos = fleet.decode_cursor(app, None, now)
        for _ in range(3):
            res = fleet.page(app, pos, 1000, now)
            if res.bodies:
                pages += 1
                read += same(page_of(res.bodies), now)
            if not res.has_more or res.next == pos:
                break
            pos = res.next
    assert pages >= 18 and read >= pages - 2
