"""The normaliser's C extension (tapwatch.sources._fastpage) against the Python reference:
the same EventColumns (columns, codes, pseudonyms, order), the same rejects by reason and
detail, on simulator pages, random pages and hostile ones; and nothing it is handed makes
it crash, leak, or write outside its buffer."""

from __future__ import annotations

import json
import os
import random
import resource
import tracemalloc
from datetime import datetime
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapwatch.sources.normalise as normalise
from tapwatch.columns import EventColumns
from tapwatch.events import decode_page
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator.fleet import Fleet, SimClock, SimulatorOptions
from tapwatch.sources.normalise import EventNormaliser, RejectLog

KEY = b"k" * 32
NOW = 1_772_411_400.0  # the pages' times are judged against a fixed instant, not the clock
#: The simulator's instant for the pages tests take from it: a Monday morning (the suite's
#: default instant), whatever instant the suite runs at (a simulator's day before 00:01
#: on the first of a month, or a weekend, serves far fewer pages).
SIM_AT = datetime.fromisoformat("2026-11-30T09:34:00+08:00").timestamp()


def sim_fleet(opts: SimulatorOptions) -> Fleet:
    """A simulator fleet whose clock stands at SIM_AT."""
    return Fleet(opts, SimClock(opts.history_days, 0.0, real=lambda: SIM_AT))

if os.environ.get("TAPWATCH_NATIVE", "1").strip() == "0":
    pytest.skip("TAPWATCH_NATIVE=0: the C extension is turned off", allow_module_level=True)
# built by `pip install -e .` (setup.py): a missing module here is a broken install
NATIVE = normalise.native
assert NATIVE is not None, "tapwatch.sources._fastpage did not import"


class Recorded(RejectLog):
    """Every reject report, in order, with its detail."""

    def __init__(self) -> None:
        super().__init__("app")
        self.reports: list[tuple[str, int, str]] = []

    def rejected(self, reason: str, count: int, detail: str) -> None:
        self.reports.append((reason, count, detail))


def _normalised(
    native: Any, entry: str, arg: Any, monkeypatch: pytest.MonkeyPatch, now: float
) -> Any:
    """(columns, rejected counts, reject reports) of one entry point on one path."""
    monkeypatch.setattr(normalise, "native", native)
    rec = Recorded()
    norm = EventNormaliser("app", Pseudonymizer(KEY), now, 600, now - 400 * 86400, rec)
    cols = getattr(norm, entry)(arg)
    return cols, norm.take_rejected(), rec.reports


def assert_same(a: EventColumns, b: EventColumns) -> None:
    assert a.ids == b.ids
    for x, y in ((a.ts, b.ts), (a.type, b.type), (a.account, b.account)):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()  # bit for bit, NaN too
    assert a.accounts == b.accounts
    assert a.strings == b.strings
    assert list(a.optional) == list(b.optional)
    for k, x in a.optional.items():
        y = b.optional[k]
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), k


def both(
    entry: str, arg: Any, monkeypatch: pytest.MonkeyPatch, now: float = NOW
) -> EventColumns:
    """Run an entry point on the C path and the reference path; assert they agree."""
    c_cols, c_counts, c_reports = _normalised(NATIVE, entry, arg, monkeypatch, now)
    py_cols, py_counts, py_reports = _normalised(None, entry, arg, monkeypatch, now)
    assert_same(c_cols, py_cols)
    assert c_counts == py_counts
    assert c_reports == py_reports
    return c_cols


def page_of(events: list[bytes]) -> bytes:
    return b'{"events":[' + b",".join(events) + b'],"next_cursor":"c","has_more":true}'


def simulator_pages(apps: int = 2, limit: int = 500) -> tuple[list[bytes], float]:
    """Pages as the bench's simulator serves them (load apps, three days of history),
    and the simulator's now."""
    ids = [f"load-{k:05d}" for k in range(1, apps + 1)]
    fleet = sim_fleet(SimulatorOptions(history_days=3, scale=1.0, extra_apps=apps, include=ids))
    now = fleet.clock.now()
    pages = []
    for app in ids:
        pos = fleet.decode_cursor(app, None, now)
        while True:
            res = fleet.page(app, pos, limit, now)
            if res.bodies:
                pages.append(page_of(res.bodies))
            if not res.has_more or res.next == pos:
                break
            pos = res.next
    return pages, now


def test_simulator_pages_give_the_same_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    pages, now = simulator_pages()
    assert len(pages) >= 4
    total = 0
    for body in pages:
        page = decode_page(body)
        assert page.events is not None
        total += len(both("from_page", page, monkeypatch, now))
    assert total > 1000


# ---- hostile and random pages ----------------------------------------------------------

BASE = {"id": "e", "ts": "2026-03-02T08:30:00+08:00", "type": "checkin", "account": "u1"}

HOSTILE_EVENTS: list[bytes] = [
    b'{"id":"a","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u\\ud800"}',
    b'{"id":"b","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\\udc00\\ud800x"}',
    b'{"id":"c","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\\uZZZZ"}',
    b'{"id":"d","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\xff\xfe"}',
    b'{"id":"e","ts":1e999,"type":"checkin","account":"u"}',
    b'{"id":"f","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","lat":NaN}',
    b'{"id":"g","ts":123456789012345678901234567890,"type":"checkin","account":"u"}',
    b'{"id":"h","ts":"2026-03-02T08:30:00Z","type":"checkin"}',
    b'{"id":"i","ts":"2026-03-02T08:30:00Z","type":"checkin","account":7}',
    b'{"id":"j","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"a","account":"b"}',
    b'{"id":"k","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","x":'
    + b"[" * 60 + b"]" * 60 + b"}",
    b'{"id":"l","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\\u00e9\\u4e2d\\ud83d\\ude00"}',
    b'{"id":"m","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"\xc3\xa9"}',
    b'{"id":"n","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","device":""}',
    b'{"id":"o","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","unit":null}',
    b'{"id":"p","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","lat":1}',
    b'{"id":"q","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","lat":1e308,"lon":0}',
    b'{"id":"r","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","device":["x"]}',
    b'{"id":"s","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"u","unit":"\\u0000"}',
    b"[1,2,3]",
    b"null",
    b'"just a string"',
    b'{"id":"t","ts":"2026-13-40T99:99:99Z","type":"checkin","account":"u"}',
    b'{"id":"u","ts_ms":-1e300,"type":"checkin","account":"u"}',
    b'{"id":"v","ts":"2026-03-02T08:30:00Z","type":"teleport","account":"u"}',
    b'{"id":"","ts":"2026-03-02T08:30:00Z","type":"checkin","account":""}',
    b'{"id":"w","ts":"2026-03-02T08:30:00Z","type":"checkin","account":"'
    + b"a" * 200 + b'"}',
]


@pytest.mark.parametrize("event", HOSTILE_EVENTS)
def test_hostile_events_among_good_ones(event: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    good = [json.dumps(BASE | {"id": f"g{i}", "account": f"u{i % 3}"}).encode() for i in range(5)]
    body = page_of([*good[:2], event, *good[2:], event])
    try:
        page = decode_page(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return  # the envelope itself does not decode: the page is refused before normalising
    both("from_page", page, monkeypatch)
    both("from_jsonl", [*good, event], monkeypatch)


def test_an_empty_page(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(both("from_page", decode_page(page_of([])), monkeypatch)) == 0
    assert len(both("from_rows", [], monkeypatch)) == 0


def test_values_other_than_str_take_the_reference_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns from an adapter may hold str subclasses (their own equality): the C code
    refuses them and the reference path codes them."""

    class Tagged(str):
        pass

    n = 6
    cols: dict[str, list[Any]] = {
        "id": [f"e{i}" for i in range(n)],
        "ts": [NOW - 60] * n,
        "type": ["read"] * n,
        "account": [Tagged("a"), "a", Tagged("b"), None, "b", "a"],
        "device": ["d", Tagged("d"), None, "d", "e", "e"],
    }
    out = both("from_columns", cols, monkeypatch)
    assert len(out) == n - 1  # the event without an account is rejected
    with pytest.raises(TypeError):
        NATIVE.codes(cols["account"], 0, np.empty(n, dtype=np.int32))


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("aé中😀"),
    max_size=12,
)
_value = st.one_of(
    st.none(),
    _text,
    st.sampled_from(["u1", "u2", "", "checkin", "read", "2026-03-02T08:30:00+08:00"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
_event = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.sampled_from(["a", "b", "c", ""]), _text, _value),
        "ts": st.one_of(
            st.floats(min_value=1.6e9, max_value=1.8e9), st.sampled_from(
                ["2026-03-02T08:30:00+08:00", "2026-03-02T08:30:00.5Z", "2026-02-30T00:00:00Z"]
            ), _value,
        ),
        "ts_ms": st.one_of(st.floats(min_value=1.6e12, max_value=1.8e12), _value),
        "type": st.one_of(st.sampled_from(["checkin", "read", "study", "nope"]), _value),
        "account": st.one_of(st.sampled_from(["u1", "u2", "u3", "é"]), _text, _value),
        **{
            f: st.one_of(st.sampled_from(["x", "y", "z", "x"]), _text, _value)
            for f in ("unit", "device", "device_model", "network", "point", "target",
                      "content_hash", "photo_hash", "app")
        },
        **{
            f: st.one_of(
                st.floats(allow_nan=False, allow_infinity=False),
                st.integers(min_value=-1000, max_value=1000),
                _value,
            )
            for f in ("lat", "lon", "accuracy_m", "duration_s", "playback_rate", "position_s")
        },
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_event, max_size=40))
def test_random_pages_give_the_same_columns(events: list[dict[str, Any]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        bodies = [json.dumps(e, allow_nan=True).encode() for e in events]
        page = decode_page(page_of(bodies))
        both("from_page", page, mp)
        both("from_rows", events, mp)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "é", "中", "😀", ""]), _text)),
    st.integers(min_value=0, max_value=2**31 - 1),
)
def test_codes_match_a_dictionary(col: list[str | None], base: int) -> None:
    """The C coding against its definition: first appearances numbered from `base`."""
    out = np.full(len(col), 7, dtype=np.int32)
    if base + len(col) > 2**31 - 1:
        with pytest.raises(ValueError):
            NATIVE.codes(col, base, out)
        return
    keys = NATIVE.codes(tuple(col), base, out)
    first = list(dict.fromkeys(v for v in col if v is not None))
    assert keys == first
    assert out.tolist() == [-1 if v is None else base + first.index(v) for v in col]


def test_codes_check_their_arguments() -> None:
    col = ["a", None, "b"]
    with pytest.raises(ValueError):
        NATIVE.codes(col, 0, np.empty(2, dtype=np.int32))  # out too short
    with pytest.raises(ValueError):
        NATIVE.codes(col, 0, np.empty(4, dtype=np.int32))  # or too long
    with pytest.raises(ValueError):
        NATIVE.codes(col, 0, np.empty(3, dtype=np.int64))  # not int32
    with pytest.raises(ValueError):
        NATIVE.codes(col, -1, np.empty(3, dtype=np.int32))
    with pytest.raises(BufferError):
        NATIVE.codes(col, 0, bytes(12))  # read-only
    with pytest.raises(ValueError):  # numpy's own refusal of a strided view
        NATIVE.codes(col, 0, np.empty(6, dtype=np.int32)[::2])
    with pytest.raises(TypeError):
        NATIVE.codes(5, 0, np.empty(3, dtype=np.int32))
    with pytest.raises(TypeError):
        NATIVE.codes(col, 0)
    with pytest.raises(TypeError):
        NATIVE.codes([1, 2, 3], 0, np.empty(3, dtype=np.int32))
    assert NATIVE.codes([], 5, np.empty(0, dtype=np.int32)) == []


def test_many_pages_leak_nothing() -> None:
    """10,000 pages through the C path: Python's allocations and the process's RSS end where
    they settled after the first thousand (a leaked reference per event would hold ~50 MB)."""
    rng = random.Random(3)
    bodies = []
    for k in range(50):
        events = [
            json.dumps(
                BASE | {"id": f"p{k}e{i}", "account": f"u{rng.randrange(500)}",
                        "device": f"d{rng.randrange(300)}", "unit": rng.choice(["x", "y", None]),
                        "lat": 30.5, "lon": 114.3}
            ).encode()
            for i in range(100)
        ]
        bodies.append(page_of(events))
    pages = [decode_page(b) for b in bodies]
    norm = EventNormaliser("app", Pseudonymizer(KEY), NOW, 600, NOW - 400 * 86400)
    assert normalise.native is NATIVE

    def run(n: int) -> None:
        for i in range(n):
            cols = norm.from_page(pages[i % len(pages)])
            assert len(cols) == 100

    run(1000)  # caches (pseudonyms) filled, allocator settled
    rss_before = _rss_kib()
    run(10_000)
    rss_grown_kib = _rss_kib() - rss_before
    # Only what tapwatch's code and this test allocate counts: tracemalloc sees every
    # thread's allocations, and in the whole suite threads of earlier tests (executors,
    # loggers) allocate while this runs (1 MB once in CI). An allocation inside the C
    # extension is attributed to the Python line that called it (normalise.py).
    ours = [tracemalloc.Filter(True, "*/tapwatch/*"), tracemalloc.Filter(True, __file__)]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(ours)
        run(2000)
        after = tracemalloc.take_snapshot().filter_traces(ours)
    finally:
        tracemalloc.stop()
    diff = after.compare_to(before, "lineno")
    grown = sum(d.size_diff for d in diff)
    # a leaked reference per event would hold 10 MB (tracemalloc) or 50 MB (RSS)
    assert grown < 500_000, [str(d) for d in diff[:5]]
    if not _under_asan():  # ASan holds freed memory back (its quarantine): RSS grows there
        assert rss_grown_kib < 10_000, rss_grown_kib


def _under_asan() -> bool:
    with open("/proc/self/maps") as f:
        return "libasan" in f.read()


def _rss_kib() -> int:
    """The process's resident set now (not its peak), KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024



def test_transpose_is_astuple_zipped() -> None:
    """The C transposition gives what the reference's zip of `astuple`s gives: the same
    objects, field by field; and refuses what it cannot read (the reference path then)."""
    from tapwatch.events import WIRE_FIELDS, WireEvent

    assert WireEvent.__struct_fields__ == WIRE_FIELDS  # the slots are read in this order
    page = decode_page(page_of([
        json.dumps(BASE | {"id": f"e{i}", "lat": i / 3, "lon": 1, "unit": None}).encode()
        for i in range(7)
    ]))
    assert page.events is not None
    got = NATIVE.transpose(page.events, WireEvent, normalise._SLOTS)
    want = tuple(zip(*map(msgspec.structs.astuple, page.events), strict=True))
    assert len(got) == len(WIRE_FIELDS)
    for g, w in zip(got, want, strict=True):
        assert type(g) is tuple and len(g) == 7
        assert all(a is b for a, b in zip(g, w, strict=True))
    assert NATIVE.transpose([], WireEvent, normalise._SLOTS) == ((),) * len(WIRE_FIELDS)

    class Other(msgspec.Struct):
        id: str

    with pytest.raises(TypeError):  # an event of another type
        NATIVE.transpose([*page.events, Other(id="x")], WireEvent, normalise._SLOTS)
    with pytest.raises(TypeError):  # a descriptor of another type
        NATIVE.transpose(page.events, WireEvent, (Other.__dict__["id"],))
    with pytest.raises(TypeError):  # not a descriptor
        NATIVE.transpose(page.events, WireEvent, ("id",))
    with pytest.raises(TypeError):
        NATIVE.transpose(tuple(page.events), WireEvent, normalise._SLOTS)


def test_a_page_with_foreign_events_takes_the_reference_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`from_wire` handed WireEvents built by hand alongside decoded ones (and a tuple of
    them): the same columns either way."""
    from tapwatch.events import WireEvent

    page = decode_page(page_of([json.dumps(BASE | {"id": f"e{i}"}).encode() for i in range(3)]))
    assert page.events is not None
    made = WireEvent(id="m", ts=NOW - 5, type="read", account="u9", device="d")
    both("from_wire", [*page.events, made], monkeypatch)
    both("from_wire", (*page.events, made), monkeypatch)


def _rfc3339_like() -> st.SearchStrategy[str]:
    """Strings near the canonical shape: every field drawn from valid and invalid values,
    separators and offsets sometimes wrong, fractions of 0 to 8 digits."""
    def two(valid: int) -> st.SearchStrategy[str]:  # mostly 0 .. valid, sometimes up to 99
        return st.one_of(
            st.integers(min_value=0, max_value=valid), st.integers(min_value=0, max_value=99)
        ).map(lambda v: f"{v:02d}")

    year = st.sampled_from(["1998", "1999", "2000", "2024", "2026", "2100", "2101", "0001"])
    frac = st.sampled_from(["", "."]) | st.from_regex(r"\.[0-9]{1,8}", fullmatch=True)
    zone = st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+08:00", "-23:59", "+24:00",
                            "+0800", "+08:60", "+8:00"]) | st.builds(
        lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), two(23), two(59))
    sep = st.sampled_from(["T", "T", "T", "t", " "])
    canonical = st.builds(
        lambda y, mo, d, t, h, mi, s, f, z: f"{y}-{mo}-{d}{t}{h}:{mi}:{s}{f}{z}",
        year, two(12), two(31), sep, two(23), two(59), two(59), frac, zone,
    )
    valid = st.builds(  # a valid time of the plausible years, any fraction and offset
        lambda t, f, z: t.strftime("%Y-%m-%dT%H:%M:%S") + f + z,
        st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2100, 12, 31)),
        frac, zone,
    )
    return valid | canonical | st.text(alphabet="0123456789-:T.Z+é ", max_size=34)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_rfc3339_like(), min_size=1, max_size=8))
def test_rfc3339_in_c_is_the_reference(values: list[str]) -> None:
    """Where the C parser gives a time it is the reference's (tapwatch.timestamps, which
    parses with datetime.fromisoformat where it does not know the shape), bit for bit;
    where it gives NaN the normaliser asks the reference."""
    from tapwatch.timestamps import TS_MAX, TS_MIN, epoch_seconds

    got = np.empty(len(values))
    NATIVE.rfc3339(values, got, TS_MIN, TS_MAX)
    want, _ = epoch_seconds(values)
    for g, w, v in zip(got.tolist(), want.tolist(), values, strict=True):
        if not np.isnan(g):
            assert g == w, v
        elif v.endswith("Z") and len(v) == 20 and v[10] == "T" and not np.isnan(w):
            pytest.fail(f"the C parser left a plain canonical time to Python: {v!r}")


def test_rfc3339_takes_what_it_knows_and_leaves_the_rest() -> None:
    from tapwatch.timestamps import TS_MAX, TS_MIN

    values: list[Any] = [
        "2026-03-02T08:30:00+08:00", "2024-02-29T23:59:59.999999Z", "2026-03-02T00:30:00.5-00:00",
        "2023-02-29T00:00:00Z", "2026-03-02 08:30:00Z", "2026-03-02T08:30:00", None, 1.7e9,
        "２０２６-03-02T08:30:00Z", "2100-01-01T00:00:00Z", "2099-12-31T23:59:59.9Z",
        "2026-03-02T08:30:00.1234567Z",
    ]
    out = np.empty(len(values))
    assert NATIVE.rfc3339(values, out, TS_MIN, TS_MAX) is None
    assert out[:3].tolist() == [1772411400.0, 1709251199.999999, 1772411400.5]
    assert np.isnan(out[3:10]).all() and out[10] == 4102444799.9 and np.isnan(out[11])
    with pytest.raises(ValueError):
        NATIVE.rfc3339(values, np.empty(3), TS_MIN, TS_MAX)
    with pytest.raises(TypeError):
        NATIVE.rfc3339(values, out, "low", TS_MAX)


def test_all_none_answers_only_what_it_knows(monkeypatch: pytest.MonkeyPatch) -> None:
    """None by identity; False at a str or number; not known (None) at any other object,
    which may compare equal to None: the caller then counts the Python way."""

    class EqualsEverything:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    assert NATIVE.all_none(()) is True
    assert NATIVE.all_none((None, None)) is True
    assert NATIVE.all_none([None, "x"]) is False
    assert NATIVE.all_none([None, 1.5]) is False
    assert NATIVE.all_none([None, 10**30]) is False
    assert NATIVE.all_none([None, EqualsEverything()]) is None
    with pytest.raises(TypeError):
        NATIVE.all_none(5)
    odd = [None, EqualsEverything(), None]
    assert normalise.column_absent(odd, 3) == (odd.count(None) == 3)
    # from an adapter: a device column of such objects, and type names of mixed kinds
    cols: dict[str, list[Any]] = {
        "id": ["a", "b", "c"],
        "ts": [NOW - 60] * 3,
        "type": ["read", 5, None],
        "account": ["u", "u", "v"],
        "device": odd,
    }
    both("from_columns", cols, monkeypatch)


def test_the_extension_is_turned_off_or_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """TAPWATCH_NATIVE=0 turns it off; a module that does not import is logged once and
    the normaliser runs in Python."""
    import sys

    assert normalise._load_native() is NATIVE
    monkeypatch.setenv("TAPWATCH_NATIVE", "0")
    assert normalise._load_native() is None
    monkeypatch.setenv("TAPWATCH_NATIVE", "1")
    import tapwatch.sources

    monkeypatch.delattr(tapwatch.sources, "_fastpage")
    monkeypatch.setitem(sys.modules, "tapwatch.sources._fastpage", None)  # import fails
    with caplog.at_level("INFO", logger="tapwatch.sources"):
        assert normalise._load_native() is None
    assert "_fastpage not available" in caplog.text
