"""Batches as columns: concatenation (tables merged or appended), storage round trip (and
the first store format), compaction, and the way back to event records."""

from __future__ import annotations

import dataclasses

import msgspec
import numpy as np
import pytest

from tapwatch.columns import EventColumns, Tables, code_map
from tapwatch.events import Event, EventType
from tapwatch.window import EventWindow
from tests.unit.store_formats import body_v2

T0 = 1_780_000_000.0


def events(prefix: str, accounts: list[str], **extra: object) -> list[Event]:
    return [
        Event(
            app="a",
            id=f"{prefix}{i}",
            ts=T0 + i,
            type=EventType.checkin,
            account=acc,
            device=f"d-{acc}",
            point="p1",
            lat=30.0,
            lon=120.0,
            **extra,
        )
        for i, acc in enumerate(accounts)
    ]


def names(b: EventColumns | EventWindow) -> list[str]:
    return [b.accounts[c] for c in b.account.tolist()]


def test_pages_appended_for_the_store_are_merged_again_for_windows() -> None:
    p1 = EventColumns.from_events(events("x", ["u1", "u2", "u1"]))
    p2 = EventColumns.from_events(events("y", ["u2", "u3"], accuracy_m=8.0))
    fast = EventColumns.concat([p1, p2], dedup=False)
    assert fast.accounts == ["u1", "u2", "u2", "u3"]  # appended: u2 has two codes
    assert names(fast) == ["u1", "u2", "u1", "u2", "u3"]
    assert np.isnan(fast.optional["accuracy_m"][:3]).all()  # absent in the first page
    merged = EventColumns.concat([fast])  # even one batch is merged when asked
    assert merged.accounts == ["u1", "u2", "u3"] and names(merged) == names(fast)
    win = EventWindow.from_columns("a", [fast])
    assert len(set(win.account.tolist())) == 3  # one code per account, as detectors count


def test_storage_round_trip_and_the_first_format() -> None:
    evs = events("e", ["u1", "u2"], duration_s=12.5, photo_hash="ph")
    b = EventColumns.from_events(evs)
    back = EventColumns.decode(b.encode())
    assert back.to_events("a") == evs
    legacy = msgspec.msgpack.encode(evs)  # a batch body of store format 1
    assert EventColumns.decode(legacy).to_events("a") == evs
    tables = Tables()
    coded = tables.coded(b)
    assert EventColumns.decode(coded.encode(tables=False), tables).to_events("a") == evs


def test_a_body_is_the_columns_little_endian_bytes_whatever_the_arrays_layout() -> None:
    """The encoder is handed views of the arrays: a strided, big-endian or wider column
    must still be stored as its contiguous little-endian bytes, as `tobytes` gave."""
    b = EventColumns.from_events(events("e", ["u1", "u2", "u1"], duration_s=2.5))
    odd = dataclasses.replace(
        b,
        ts=np.repeat(b.ts, 2)[::2].astype(">f8"),  # strided and big-endian
        account=b.account.astype(np.int64),  # wider than stored
        optional={k: v.astype(v.dtype.newbyteorder(">")) for k, v in b.optional.items()},
    )
    body = odd.encode()
    assert bytes(body) == bytes(b.encode())
    assert body[:4] == b"TWC3"
    fields = msgspec.msgpack.decode(bytes(body[4:]))
    assert fields[1] == b.ts.astype("<f8").tobytes()
    assert fields[3] == ["|i1", b.account.astype("i1").tobytes(), None]  # codes 0..1: a byte
    dense = ["<f8", b.optional["duration_s"].astype("<f8").tobytes(), None]
    assert fields[6]["duration_s"] == dense
    assert EventColumns.decode(body).to_events("a") == b.to_events("a")


def _columns(n: int, n_strings: int, present: float, seed: int = 0) -> EventColumns:
    """n events with codes into a table of n_strings, and a code column and a float
    column present in about that share of the events."""
    rng = np.random.default_rng(seed)
    here = rng.random(n) < present
    return EventColumns(
        ids=[f"i{k}" for k in range(n)],
        ts=T0 + rng.random(n),
        type=rng.integers(0, 3, n).astype(np.uint8),
        account=rng.integers(0, n_strings, n).astype(np.int32),
        accounts=[f"a{k}" for k in range(n_strings)],
        strings=[f"s{k}" for k in range(n_strings)],
        optional={
            "device": rng.integers(0, n_strings, n).astype(np.int32),
            "target": np.where(here, rng.integers(0, n_strings, n), -1).astype(np.int32),
            "duration_s": np.where(here, rng.random(n) * 100, np.nan),
            "lat": rng.random(n) * 90,
        },
    )


def _same(a: EventColumns, b: EventColumns) -> None:
    """Every column equal bit for bit, with the dtype it had (int32 codes, float64)."""
    assert list(a.ids) == list(b.ids) and a.accounts == b.accounts and a.strings == b.strings
    pairs = [(a.ts, b.ts), (a.type, b.type), (a.account, b.account)]
    assert a.optional.keys() == b.optional.keys()
    pairs += [(a.optional[k], b.optional[k]) for k in a.optional]
    for x, y in pairs:
        assert x.dtype == y.dtype
        assert x.tobytes() == y.tobytes()


def test_codes_are_stored_as_narrow_as_their_table_and_read_back_as_int32() -> None:
    """A table of up to 128 strings: codes of one byte; up to 32,768: two; more: four.
    Read back, every column is what was stored, int32 again."""
    for n_strings, width in ((128, "|i1"), (129, "<i2"), (32_768, "<i2"), (32_769, "<i4")):
        b = _columns(2_000, n_strings, present=1.0)
        b.account[0] = n_strings - 1  # the table's last code is there
        fields = msgspec.msgpack.decode(bytes(b.encode()[4:]))
        assert fields[3][0] == width and fields[6]["device"][0] == width
        _same(EventColumns.decode(b.encode()), b)


def test_a_column_absent_from_most_events_stores_only_its_values_and_their_rows() -> None:
    """Present in ~3 % of the events: the values and their rows (uint16 positions up to
    65,536 events, uint32 beyond); present in most: every row, as before. The absent
    rows read back as -1 and NaN."""
    for n, at in ((5_000, "<u2"), (70_000, "<u4")):
        sparse = _columns(n, 1_000, present=0.03)
        fields = msgspec.msgpack.decode(bytes(sparse.encode()[4:]))
        here = np.flatnonzero(sparse.optional["target"] != -1)
        dtype, data, rows = fields[6]["target"]
        assert (dtype, len(data)) == ("<i2", 2 * len(here))
        assert np.frombuffer(rows, dtype=at).tolist() == here.tolist()
        assert len(fields[6]["duration_s"][1]) == 8 * len(here)
        assert len(fields[6]) == 4 and fields[6]["device"][2] is None  # dense: no rows
        back = EventColumns.decode(sparse.encode())
        _same(back, sparse)
        assert (back.optional["target"][sparse.optional["target"] == -1] == -1).all()
    dense = _columns(5_000, 1_000, present=0.9)
    assert msgspec.msgpack.decode(bytes(dense.encode()[4:]))[6]["target"][2] is None
    _same(EventColumns.decode(dense.encode()), dense)


def test_a_nan_of_other_bits_is_kept_as_a_value() -> None:
    """Only the canonical NaN (what an absent float is) is left out of a sparse column:
    any other NaN is a value and reads back bit for bit."""
    b = _columns(1_000, 10, present=0.0)
    odd = np.array([0x7FF8000000000001, 0xFFF8000000000000], dtype=np.uint64).view(np.float64)
    b.optional["duration_s"][[3, 700]] = odd
    back = EventColumns.decode(b.encode())
    _same(back, b)
    assert back.optional["duration_s"][[3, 700]].view(np.uint64).tolist() == [
        0x7FF8000000000001,
        0xFFF8000000000000,
    ]


def test_empty_and_one_event_batches_and_shared_tables_round_trip() -> None:
    for b in (EventColumns.empty(), _columns(1, 5, present=0.0), _columns(1, 5, present=1.0)):
        _same(EventColumns.decode(b.encode()), b)
    b = _columns(3_000, 500, present=0.02)
    tables = Tables()
    coded = tables.coded(b)
    _same(EventColumns.decode(coded.encode(tables=False), tables), coded)


def test_a_body_of_the_second_format_reads_back_as_it_was_stored() -> None:
    for b in (_columns(5_000, 1_000, present=0.03), _columns(300, 40_000, present=1.0)):
        _same(EventColumns.decode(body_v2(b)), b)
    b = _columns(5_000, 1_000, present=0.03)  # 4 + 4 + 4 + 8 + 8 bytes an event in TWC2
    assert len(body_v2(b)) - len(b.encode()) > 5_000 * (2 + 2 + 3 + 7)


def test_a_damaged_column_is_an_error_not_other_values() -> None:
    b = _columns(10, 5, present=1.0)
    fields = msgspec.msgpack.decode(bytes(b.encode()[4:]))
    for bad in (["<u8", fields[3][1]], ["<i4", b"\0" * 8], ["<f8", b"\0" * 80]):
        damaged = b"TWC3" + msgspec.msgpack.encode([*fields[:3], bad, *fields[4:]])
        with pytest.raises(ValueError):
            EventColumns.decode(damaged)


def test_a_selection_can_drop_the_strings_it_does_not_use() -> None:
    b = EventColumns.from_events(events("e", ["u1", "u2", "u3"]))
    part = b.select(np.array([2]), compact=True)
    assert part.accounts == ["u3"] and part.strings == ["d-u3", "p1"]
    assert part.to_events("a") == b.to_events("a", [2])


def test_shared_tables_keep_codes_for_good() -> None:
    tables = Tables()
    a = tables.coded(EventColumns.from_events(events("a", ["u1", "u2"])))
    b = tables.coded(EventColumns.from_events(events("b", ["u2", "u3"])))
    assert a.accounts is b.accounts is tables.accounts == ["u1", "u2", "u3"]
    both = EventColumns.concat([a, b], dedup=False)
    assert both.accounts is tables.accounts and names(both) == ["u1", "u2", "u2", "u3"]
    assert tables.coded(both) is both


def test_tables_without_their_index_code_a_later_batch_as_before() -> None:
    """drop_index lets the index go (analyze's sweep only reads the tables); a batch
    with tables of its own that comes after all is coded through an index built again,
    every string keeping its first code; an empty batch needs none."""
    tables = Tables()
    a = tables.coded(EventColumns.from_events(events("a", ["u1", "u2"])))
    tables.drop_index()
    assert tables.account_index == {} and tables.string_index == {}
    empty = tables.coded(EventColumns.empty())
    assert empty.accounts is tables.accounts and tables.account_index == {}
    b = tables.coded(EventColumns.from_events(events("b", ["u2", "u3"])))
    assert names(a) + names(b) == ["u1", "u2", "u2", "u3"]
    assert b.account.tolist() == [1, 2] and tables.accounts == ["u1", "u2", "u3"]
    assert tables.account_index == {"u1": 0, "u2": 1, "u3": 2}
    assert tables.string_index == {v: i for i, v in enumerate(tables.strings)}


def test_code_map_appends_each_new_string_once_and_keeps_known_codes() -> None:
    table = ["a", "b"]
    index = {"a": 0, "b": 1}
    got = code_map(["b", "c", "a", "c", "d"], table, index)
    assert got.tolist() == [1, 2, 0, 2, 3, -1]  # the last slot maps -1 (absent) to -1
    assert table == ["a", "b", "c", "d"]
    assert index == {v: i for i, v in enumerate(table)}
    assert code_map([], table, index).tolist() == [-1]


def test_ids_as_one_utf8_array_select_concat_and_store_as_strings() -> None:
    """A batch whose ids are one "S" array of UTF-8 (analyze's spilled pieces): selected
    and concatenated as an array, read back as the same events, stored as strings."""
    evs = events("事件-", ["u1", "u2", "u3"]) + events("e", ["u4"])
    plain = EventColumns.from_events(evs)
    as_bytes = dataclasses.replace(plain, ids=np.array([e.id.encode() for e in evs]))
    assert as_bytes.to_events("a") == evs
    part = as_bytes.select(np.array([3, 0]))
    assert part.ids.tolist() == [b"e0", "事件-0".encode()]
    both = EventColumns.concat([part, as_bytes], dedup=False)
    assert isinstance(both.ids, np.ndarray) and len(both) == 6
    assert both.to_events("a") == [evs[3], evs[0], *evs]
    mixed = EventColumns.concat([plain, part], dedup=False)
    assert mixed.ids == [e.id for e in evs] + ["e0", "事件-0"]
    assert EventColumns.decode(as_bytes.encode()).to_events("a") == evs
