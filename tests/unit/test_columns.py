"""Batches as columns: concatenation (tables merged or appended), storage round trip (and
the first store format), compaction, and the way back to event records."""

from __future__ import annotations

import dataclasses

import msgspec
import numpy as np

from tapwatch.columns import EventColumns, Tables, code_map
from tapwatch.events import Event, EventType
from tapwatch.window import EventWindow

T0 = 1_780_000_000.0


def events(prefix: str, accounts: list[str], **extra: object) -> list[Event]:
    return [
        Event(app="a", id=f"{prefix}{i}", ts=T0 + i, type=EventType.checkin, account=acc,
              device=f"d-{acc}", point="p1", lat=30.0, lon=120.0, **extra)
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
    assert body[:4] == b"TWC2"
    fields = msgspec.msgpack.decode(bytes(body[4:]))
    assert fields[1] == b.ts.astype("<f8").tobytes()
    assert fields[3] == b.account.astype("<i4").tobytes()
    assert fields[6]["duration_s"] == b.optional["duration_s"].astype("<f8").tobytes()
    assert EventColumns.decode(body).to_events("a") == b.to_events("a")


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
