"""A cached window's room: events appended in spare rows give exactly what
`EventWindow.extend` gives, and windows handed out before keep their values."""

from __future__ import annotations

import numpy as np

from tapwatch.columns import EventColumns, Tables
from tapwatch.events import Event, EventType
from tapwatch.window import _COLUMNS, EventWindow, append_in_room, with_room

T0 = 1_790_000_000.0


def _batch(ts: list[float], ids: list[str] | None = None) -> EventColumns:
    ids = ids or [f"e{t:.0f}" for t in ts]
    return EventColumns.from_events(
        Event(
            app="a",
            id=i,
            ts=t,
            type=EventType.read,
            account=f"acct-{int(t) % 7}",
            device=f"dev-{int(t) % 3}",
            lat=1.5 if int(t) % 2 else None,
        )
        for t, i in zip(ts, ids, strict=True)
    )


def _same(a: EventWindow, b: EventWindow) -> None:
    for f in _COLUMNS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype, f
        assert x.tobytes() == y.tobytes(), f
    assert a.accounts == b.accounts and a.strings == b.strings


def _window(tables: Tables, ts: list[float], ids: list[str] | None = None) -> EventWindow:
    return EventWindow.from_columns("a", [_batch(ts, ids)], tables=tables)


def test_appends_in_room_give_what_extend_gives_and_keep_earlier_windows() -> None:
    tables = Tables()
    first = _window(tables, [T0 + k for k in range(100)])
    w, room = with_room(first)
    _same(w, first)
    cap = room.capacity
    expected = first
    handed_out = []
    for p in range(1, 6):
        new = _window(tables, [T0 + 100 * p + k for k in range(10)])
        expected = expected.extend(new)
        handed_out.append(
            (
                w,
                EventWindow(
                    app="a",
                    accounts=list(w.accounts),
                    strings=list(w.strings),
                    **{f: getattr(w, f).copy() for f in _COLUMNS},
                ),
            )
        )
        w, room = append_in_room(w, new, room)
        _same(w, expected)
    assert room is not None and room.capacity == cap  # written in place, not copied
    assert w.ts.base is room.cols["ts"]
    for old, copy in handed_out:  # earlier windows keep their rows
        for f in _COLUMNS:
            assert getattr(old, f).tobytes() == getattr(copy, f).tobytes()


def test_a_window_cut_at_its_start_still_appends_in_place() -> None:
    tables = Tables()
    w, room = with_room(_window(tables, [T0 + k for k in range(50)]))
    cut = w.since(T0 + 20)
    new = _window(tables, [T0 + 60, T0 + 61])
    out, room2 = append_in_room(cut, new, room)
    assert room2 is room
    _same(out, cut.extend(new))


def test_a_full_room_is_grown_and_wider_ids_widen_it() -> None:
    tables = Tables()
    w, room = with_room(_window(tables, [T0 + k for k in range(8)]))
    expected = w
    for p in range(1, 40):  # past the room's spare rows
        new = _window(tables, [T0 + 100 * p + k for k in range(5)])
        expected = expected.extend(new)
        w, room = append_in_room(w, new, room)
        _same(w, expected)
    assert room is not None and room.capacity > 8 + 64
    wide = _window(tables, [T0 + 10_000], ids=["a-much-longer-event-id-than-before"])
    expected = expected.extend(wide)
    w, room = append_in_room(w, wide, room)
    _same(w, expected)
    assert w.ids.dtype.itemsize == len("a-much-longer-event-id-than-before")


def test_late_events_are_sorted_in_and_the_next_append_makes_a_room() -> None:
    tables = Tables()
    w, room = with_room(_window(tables, [T0 + k for k in range(20)]))
    late = _window(tables, [T0 + 5.5, T0 + 30])  # reaches back before the window's end
    expected = w.extend(late)
    w, room = append_in_room(w, late, room)
    _same(w, expected)
    assert room is None
    assert np.all(np.diff(w.ts) >= 0)
    new = _window(tables, [T0 + 40])
    expected = expected.extend(new)
    w, room = append_in_room(w, new, room)
    _same(w, expected)
    assert room is not None and room.holds(w)


def test_a_window_not_ending_the_room_is_not_written_over() -> None:
    """Only the window that ends the room's written rows may append in place: an older
    one (the room has grown past it) gets a room of its own."""
    tables = Tables()
    w0, room = with_room(_window(tables, [T0 + k for k in range(10)]))
    w1, room = append_in_room(w0, _window(tables, [T0 + 20]), room)
    kept = w1.ts.copy()
    other, room2 = append_in_room(w0, _window(tables, [T0 + 30]), room)
    assert room2 is not room
    assert w1.ts.tobytes() == kept.tobytes()
    assert other.ts.tolist() == [*w0.ts.tolist(), T0 + 30]
