"""Daily rollups of a batch (tapwatch.window.rollup) against a sum event by event."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from tapwatch.columns import EventColumns
from tapwatch.events import MEANINGFUL_TYPES, EventType
from tapwatch.window import DAY, local_seconds, rollup
from tests.unit.forced_usage_builders import TZ, Events, at

_KINDS = {EventType.checkin: "checkin", EventType.read: "read", EventType.like: "like",
          EventType.study: "study", EventType.session_start: "session"}


def _by_hand(events) -> dict[tuple[int, str], dict[str, float]]:
    """(local day, account) -> the rollup's columns, one event at a time."""
    out: dict[tuple[int, str], dict[str, float]] = {}
    for e in events:
        local = float(local_seconds(np.array([e.ts]), TZ)[0])
        day = int(local // DAY)
        sod = local - day * DAY
        row = out.setdefault((day, e.account), {
            "events": 0, "meaningful": 0, "checkin": 0, "read": 0, "like": 0, "study": 0,
            "session": 0, "study_s": 0.0, "first_s": sod, "last_s": sod,
        })
        row["events"] += 1
        kind = _KINDS.get(e.type, "meaningful" if e.type in MEANINGFUL_TYPES else None)
        if kind:
            row[kind] += 1
        if e.type == EventType.study and e.duration_s is not None:
            row["study_s"] += e.duration_s
        row["first_s"] = min(row["first_s"], sod)
        row["last_s"] = max(row["last_s"], sod)
    return out


@pytest.mark.parametrize(
    "types",
    [
        list(EventType),
        [EventType.checkin],  # a batch of one kind: its column counts as `events`
        [EventType.read, EventType.like],  # the others count nothing
    ],
)
def test_rollup_counts_each_kind_of_event_per_account_and_day(types: list[EventType]) -> None:
    rng = random.Random(5)
    ev = Events()
    for _ in range(3_000):
        t = at(date(2026, 11, rng.randint(1, 9)), rng.uniform(0, DAY))
        kind = rng.choice(types)
        extra = {"duration_s": rng.uniform(1, 900)} if kind == EventType.study else {}
        ev.add(t, kind, f"a{rng.randint(0, 40)}", **extra)
    acc, _ = rollup(EventColumns.from_events(ev.items), TZ)
    want = _by_hand(ev.items)
    assert len(acc) == len(want)
    for r in range(len(acc)):
        row = want[(int(acc.day[r]), acc.accounts[int(acc.account[r])])]
        for name, value in row.items():
            got = getattr(acc, name)[r]
            if name == "study_s":  # float sums: in another order than by hand
                assert abs(got - value) <= 1e-9 * max(1.0, value)
            else:
                assert got == value, name
    assert all(getattr(acc, k).dtype == np.int32 for k in ("events", "checkin", "read"))
    assert not np.shares_memory(acc.events, acc.checkin)  # a kind's column is its own


@pytest.mark.parametrize("seed", range(4))
def test_groups_are_in_a_stable_sorts_order(seed: int) -> None:
    """The rollup's grouping orders rows as a stable sort of their keys does (equal keys
    in row order: the float sums of a group add up in that order), whether the keys get
    each row's index below them (non-negative, room to spare) or not (negative or huge)."""
    from tapwatch.window import _groups

    rng = np.random.default_rng(seed)
    for keys in (
        rng.integers(0, 50, 3_000),  # many repeats
        rng.integers(0, 2**40, 3_000),
        rng.integers(-20, 20, 500),
        np.array([2**62, 0, 2**62, 5], dtype=np.int64),  # no room below them
        np.array([7], dtype=np.int64),
        np.zeros(0, dtype=np.int64),
    ):
        order, starts, group = _groups(keys)
        want = np.argsort(keys, kind="stable")
        np.testing.assert_array_equal(order, want)
        ks = keys[want]
        first = np.r_[True, ks[1:] != ks[:-1]][: ks.size]  # each group's first row
        np.testing.assert_array_equal(starts, np.flatnonzero(first))
        np.testing.assert_array_equal(group, np.cumsum(first) - 1)
