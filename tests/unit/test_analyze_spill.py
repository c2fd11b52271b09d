"""analyze's spill (an external bucket sort by day): what goes in comes back by day, in
the order it came, whatever the order of the input; small parts of a day wait in memory
and are written as one piece."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tapwatch.analyze import spill as spill_module
from tapwatch.analyze.spill import BUCKET_S, TimeSpill
from tapwatch.columns import EventColumns
from tapwatch.events import Event, EventType

T0 = 1_780_000_000.0 // BUCKET_S * BUCKET_S  # a UTC midnight


def chunks(n: int, days: int, size: int, seed: int) -> list[EventColumns]:
    """n check-ins over `days` days in random order, as chunks of `size` events."""
    rng = random.Random(seed)
    events = [
        Event(app="a", id=f"e{i}", ts=T0 + rng.uniform(0, days * BUCKET_S),
              type=EventType.checkin, account=f"u{rng.randint(0, 50)}", point="p1")
        for i in range(n)
    ]
    return [EventColumns.from_events(events[lo : lo + size]) for lo in range(0, n, size)]


@pytest.mark.parametrize(("piece", "buffer"), [(10**9, 10**9), (40, 10**9), (10**9, 90), (25, 60)])
def test_days_come_back_whole_in_the_order_they_came(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int, buffer: int
) -> None:
    monkeypatch.setattr(spill_module, "PIECE_EVENTS", piece)
    monkeypatch.setattr(spill_module, "BUFFER_EVENTS", buffer)
    parts = chunks(1_000, 9, 37, seed=piece + buffer)
    spill = TimeSpill(tmp_path)
    try:
        for p in parts:
            spill.add("a", p)
        assert spill.events == 1_000
        days = spill.days()
        assert days == sorted({int(t // BUCKET_S) for p in parts for t in p.ts.tolist()})
        got: list[str] = []
        for day in days:
            pieces = spill.take("a", day)
            # the ids come back as the windows hold them: UTF-8 in one "S" array a piece
            assert all(isinstance(p.ids, np.ndarray) for p in pieces)
            ids = [i.decode() for p in pieces for i in p.ids.tolist()]
            want = [i for p in parts for i, t in zip(p.ids, p.ts.tolist(), strict=True)
                    if int(t // BUCKET_S) == day]
            assert ids == want  # the day's events, in the order they came
            for p in pieces:
                assert (np.floor(p.ts / BUCKET_S) == day).all()
                assert p.accounts is spill.tables["a"].accounts
            got += ids
            assert spill.take("a", day) == []  # each piece is read once
        assert sorted(got) == sorted(i for p in parts for i in p.ids)
    finally:
        spill.close()


def test_small_parts_of_a_day_are_written_as_one_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shuffled input's chunks hold a few events of every day: buffered, a day is a
    piece per flush, not a piece per chunk; a day that fills is written at once."""
    monkeypatch.setattr(spill_module, "PIECE_EVENTS", 10**9)
    monkeypatch.setattr(spill_module, "BUFFER_EVENTS", 500)
    spill = TimeSpill(tmp_path)
    try:
        for p in chunks(2_000, 10, 50, seed=1):  # 40 chunks of 50 events over 10 days
            spill.add("a", p)
        spill.flush()
        assert sum(map(len, spill._index.values())) <= 10 * 4  # 4 flushes, not 40 chunks
    finally:
        spill.close()
    monkeypatch.setattr(spill_module, "PIECE_EVENTS", 100)
    spill = TimeSpill(tmp_path)
    try:
        for p in chunks(1_000, 1, 30, seed=2):  # one day: written every 100+ events
            spill.add("a", p)
            assert spill._waiting_events < 100
        assert spill.days() and spill._waiting_events == 0
    finally:
        spill.close()
