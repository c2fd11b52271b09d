"""UTC offsets of timestamps: the offset in force at each instant, across changes of
offset (daylight saving, half-hour zones, a change at a half hour)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tapwatch import window
from tapwatch.window import DAY, local_day_of, local_seconds, utc_offsets


def expected(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    return np.array([datetime.fromtimestamp(t, tz).utcoffset().total_seconds() for t in ts])


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Asia/Shanghai",
        "UTC",
    ],
)
@pytest.mark.parametrize("span_days", [1, 30, 400])
@pytest.mark.parametrize("n", [3, 5000])
def test_offsets_are_the_ones_in_force_at_each_instant(zone: str, span_days: int, n: int) -> None:
    tz = ZoneInfo(zone)
    rng = np.random.default_rng(span_days * 7 + n)
    for start in (1_774_000_000.0, 1_790_000_000.0):  # March and September 2026
        ts = start + rng.uniform(0, span_days * 86400, n)
        assert (utc_offsets(ts, tz) == expected(ts, tz)).all()


def test_the_hour_after_a_change_of_offset() -> None:
    # Berlin went from +01:00 to +02:00 at 01:00 UTC on 2026-03-29; Lord Howe from
    # +10:30 to +11:00 at 15:30 UTC on 2026-10-03 (in the middle of a UTC hour)
    berlin = datetime(2026, 3, 29, 1, tzinfo=ZoneInfo("UTC")).timestamp()
    ts = berlin + np.array([-1.0, 0.0, 1800.0, 3599.0])
    assert utc_offsets(ts, ZoneInfo("Europe/Berlin")).tolist() == [3600, 7200, 7200, 7200]
    howe = datetime(2026, 10, 3, 15, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    ts = howe + np.array([-1800.0, -1.0, 0.0, 1799.0])
    assert utc_offsets(ts, ZoneInfo("Australia/Lord_Howe")).tolist() == [37800, 37800, 39600, 39600]
    assert utc_offsets(np.zeros(0), ZoneInfo("UTC")).size == 0


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Australia/Lord_Howe", "Asia/Shanghai"])
def test_one_instants_local_day_is_the_arrays(zone: str) -> None:
    """local_day_of (one instant, no arrays) gives the day local_seconds gives, also in the
    hours around a change of offset and around local midnight."""
    tz = ZoneInfo(zone)
    changes = [datetime(2026, 3, 29, 1, tzinfo=ZoneInfo("UTC")).timestamp(),
               datetime(2026, 10, 3, 15, 30, tzinfo=ZoneInfo("UTC")).timestamp()]
    ts = np.concatenate([c + np.arange(-7200.0, 7200.0, 450.0) for c in changes]
                        + [np.random.default_rng(3).uniform(1.7e9, 1.8e9, 2000)])
    arrays = np.floor(local_seconds(ts, tz) / DAY).astype(np.int64).tolist()
    assert [local_day_of(t, tz) for t in ts.tolist()] == arrays


def test_offsets_kept_per_zone_follow_windows_anywhere_in_time(monkeypatch) -> None:
    """The run of hours kept per zone grows to take in earlier and later windows, and starts
    afresh when a window falls too far from it: the offsets stay the ones in force."""
    monkeypatch.setattr(window, "_KEPT", {})
    monkeypatch.setattr(window, "_KEPT_HOURS", 24 * 90)
    tz = ZoneInfo("America/New_York")
    rng = np.random.default_rng(5)
    for start in (1_790_000_000.0, 1_774_000_000.0, 1_790_500_000.0, 1_200_000_000.0,
                  1_774_100_000.0):
        ts = start + rng.uniform(0, 7 * 86400, 500)
        assert (utc_offsets(ts, tz) == expected(ts, tz)).all()
        first, kept = window._KEPT[tz]
        assert kept.size <= 24 * 90 and not kept.flags.writeable
        assert first <= ts.min() // 3600 and ts.max() // 3600 < first + kept.size
