"""The order of a window's rows (tapwatch.window.time_id_order): by time, then by id."""

from __future__ import annotations

import numpy as np
import pytest

from tapwatch.window import time_id_order


@pytest.mark.parametrize("seed", range(6))
def test_time_id_order_is_lexsort_of_ids_and_times(seed: int) -> None:
    """The same permutation as `np.lexsort((ids, ts))`, the simple sort it replaces: many
    shared times (ties broken by id, then input order, repeated ids too), NaN times,
    -0.0 beside 0.0, one row and none."""
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 50, 3_000):
        distinct_times = max(1, n // (3 if seed % 2 else 1))
        ts = rng.integers(0, distinct_times, n).astype(np.float64)
        ids = np.array([b"ev-%d" % i for i in rng.integers(0, max(1, n // 2), n)], dtype="S10")
        cases = [ts]
        if n > 2:
            with_nan = ts.copy()
            with_nan[:: max(1, n // 7)] = np.nan
            signed = ts.copy()
            signed[signed == 0] = -0.0
            signed[::5][signed[::5] == -0.0] = 0.0
            cases += [with_nan, signed]
        for t in cases:
            np.testing.assert_array_equal(time_id_order(t, ids), np.lexsort((ids, t)))


def test_time_id_order_of_distinct_times_is_their_sort() -> None:
    ts = np.array([3.0, 1.0, 2.0])
    ids = np.array([b"c", b"b", b"a"])
    assert time_id_order(ts, ids).tolist() == [1, 2, 0]


@pytest.mark.parametrize(("since", "until"), [(None, None), (40.0, None), (40.0, 160.0)])
def test_window_from_columns_with_its_ids_made_already(since, until) -> None:
    """A window built with the batch's ids given as bytes is the one built from the
    strings, also when `since`/`until` leave some events out."""
    from tapwatch.columns import EventColumns, Tables
    from tapwatch.events import EventType
    from tapwatch.window import EventWindow
    from tests.unit.forced_usage_builders import Events

    ev = Events()
    rng = np.random.default_rng(3)
    for t in rng.integers(0, 200, 300).tolist():
        ev.add(float(t), EventType.checkin, f"a{t % 7}")
    tables = Tables()
    batch = tables.coded(EventColumns.from_events(ev.items))
    ids = np.array(batch.ids, dtype=bytes)
    plain = EventWindow.from_columns("app", [batch], since, until, tables=tables)
    given = EventWindow.from_columns("app", [batch], since, until, tables=tables, ids=ids)
    assert 0 < len(given) == len(plain)
    for f in ("ids", "ts", "type", "account"):
        np.testing.assert_array_equal(getattr(given, f), getattr(plain, f))


def test_ids_as_bytes_is_numpys_conversion() -> None:
    """Ids of one length (joined in one call) and of several (numpy's own conversion)
    give what `np.array(ids, dtype=bytes)` gives: the same width, bytes and order; none
    gives an empty `S1` array; ids that are not all ASCII (which numpy's conversion
    refuses) are UTF-8."""
    from tapwatch.window import ids_as_bytes

    for ids in (["c0001", "c0002", "c0001"], ["a", "bb", "", "ccc"], ["x\x00", "yz"], [""],
                [f"ev-{i:06d}" for i in range(5_000)]):
        got, want = ids_as_bytes(ids), np.array(ids, dtype=bytes)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        assert got.flags.writeable
    empty = ids_as_bytes([])
    assert empty.dtype == np.dtype("S1") and empty.size == 0
    with pytest.raises(UnicodeEncodeError):
        np.array(["é"], dtype=bytes)
    assert ids_as_bytes(["é", "e"]).tolist() == ["é".encode(), b"e"]


def test_a_window_takes_ids_that_are_not_ascii() -> None:
    """An app's own ids may be in any script (the usage API's ids are strings): a window
    holds them as UTF-8 bytes, orders rows of one time by them (code point order, as the
    strings sort), keeps the first of a repeated one, and gives them back as sent. Such
    an id stopped the window (and `tapwatch analyze`) with a UnicodeEncodeError."""
    from tapwatch.columns import EventColumns
    from tapwatch.events import Event, EventType
    from tapwatch.window import EventWindow

    ids = ["事件-2", "e1", "事件-10", "é", "e1", "ü-ü"]  # two lengths; "e1" twice
    events = [
        Event(app="a", id=i, ts=100.0 + (k % 2), type=EventType.checkin, account="u")
        for k, i in enumerate(ids)
    ]
    win = EventWindow.from_columns("a", [EventColumns.from_events(events)], dedup=True)
    first = {e.id: e.ts for e in reversed(events)}  # "e1" at 101.0, its first time
    want = sorted((ts, i) for i, ts in first.items())
    assert win.event_ids(range(len(win))) == [i for _, i in want]
    assert win.ts.tolist() == [t for t, _ in want]
