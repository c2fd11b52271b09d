"""Big check-in dumps for `tapwatch analyze`: a province's export, generated fast.

`write_checkin_dump` writes N check-ins of one app as JSONL (the usage API's fields, RFC
3339 times at +08:00), at a steady daily volume so that a bigger dump is a longer one:
each account checks in now and then at its own point (GPS noise of a few metres, around its
own time of day), two or three check-ins a day per point, and nothing is a ring, unless
rings are planted (`Ring`): one person
tapping a set of phones in turn at a point, seconds apart, on consecutive days. The ground
truth (every planted event id) comes back. `shuffle` writes the same events in random
order (an export that is not sorted by time).

Columns are drawn with numpy and lines written a chunk at a time: 10M events take about
a minute, not the time of 10M Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

APP = "province-checkin"
#: 2026-01-05 00:00 +08:00, a Monday
START = 1_767_542_400.0
UTC_OFFSET = 8 * 3600
PER_DAY = 11_112  # 2M check-ins in 180 days
LAT0, LON0 = 30.25, 120.15
M_LAT, M_LON = 1 / 111_320.0, 1 / 96_200.0  # degrees per metre near 30°N
MODELS = ("Redmi 12C", "HUAWEI nova 12", "OPPO Reno11", "vivo Y36", "iPhone 13", "HONOR X50")
_CHUNK = 200_000


@dataclass(frozen=True, slots=True)
class Ring:
    """`phones` accounts checked in by one person at point `point`, `gap_s` apart, on
    `days` consecutive days from day `day` of the dump, around `hour` local time: up to
    `drift_h` hours earlier or later from one day to the next (whenever the person gets
    round to it; a set at the same minute every day looks like colleagues' habits)."""

    day: int
    point: int
    phones: int = 12
    days: int = 3
    hour: float = 3.0
    gap_s: float = 6.0
    drift_h: float = 1.5


@dataclass(frozen=True, slots=True)
class DumpTruth:
    events: int
    days: int
    first_ts: float
    last_ts: float
    #: per ring, the ids of its events
    rings: list[list[str]]


def write_checkin_dump(
    path: Path,
    events: int,
    *,
    points: int = 5_000,
    accounts: int = 200_000,
    per_day: int = PER_DAY,
    rings: Sequence[Ring] = (),
    shuffle: bool = False,
    seed: int = 1,
) -> DumpTruth:
    """Write `events` organic check-ins (plus the rings' events) to `path` (JSONL)."""
    rng = np.random.default_rng(seed)
    days = max(1, -(-events // per_day))
    # every account has its own point and its own usual minute of the day
    home = rng.integers(0, points, accounts)
    habit = rng.uniform(8 * 3600, 18 * 3600, accounts)
    pt_xy = rng.uniform(-30_000, 30_000, (points, 2))
    day = np.minimum(np.arange(events) // per_day, days - 1)
    acc = rng.integers(0, accounts, events)
    sod = np.clip(habit[acc] + rng.normal(0, 1800, events), 6 * 3600, 22 * 3600)
    ts = START + day * 86400.0 + sod
    xy = pt_xy[home[acc]] + rng.normal(0, 8, (events, 2))
    point = home[acc]
    ids = np.arange(events)
    truth: list[list[str]] = []
    extra_ts, extra_acc, extra_xy, extra_pt, extra_ids = [], [], [], [], []
    next_id = events
    for k, r in enumerate(rings):
        members = accounts + k * 1000 + np.arange(r.phones)  # phones nobody else uses
        ring_ids = []
        for d in range(r.days):
            hour = r.hour + rng.uniform(-r.drift_h, r.drift_h)
            t = START + (r.day + d) * 86400.0 + hour * 3600 + np.cumsum(
                rng.uniform(0.8, 1.2, r.phones) * r.gap_s
            )
            extra_ts.append(t)
            extra_acc.append(members)
            extra_xy.append(pt_xy[r.point] + rng.normal(0, 2, (r.phones, 2)))
            extra_pt.append(np.full(r.phones, r.point))
            extra_ids.append(np.arange(next_id, next_id + r.phones))
            ring_ids += [f"c{i:09d}" for i in range(next_id, next_id + r.phones)]
            next_id += r.phones
        truth.append(ring_ids)
    if rings:
        ts = np.concatenate([ts, *extra_ts])
        acc = np.concatenate([acc, *extra_acc])
        xy = np.concatenate([xy, *extra_xy])
        point = np.concatenate([point, *extra_pt])
        ids = np.concatenate([ids, *extra_ids])
    model = rng.integers(0, len(MODELS), accounts + 1000 * len(rings))
    accuracy = rng.uniform(4, 25, ts.size)
    # the same events either way: only their order depends on `shuffle`
    order = rng.permutation(ts.size) if shuffle else np.argsort(ts, kind="stable")
    with path.open("w", encoding="ascii") as f:
        for lo in range(0, order.size, _CHUNK):
            rows = order[lo : lo + _CHUNK]
            f.write(
                _lines(ts[rows], acc[rows], xy[rows], point[rows], ids[rows], accuracy[rows], model)
            )
    return DumpTruth(
        events=int(ts.size),
        days=days,
        first_ts=float(ts.min()),
        last_ts=float(ts.max()),
        rings=truth,
    )


def _lines(
    ts: np.ndarray,
    acc: np.ndarray,
    xy: np.ndarray,
    point: np.ndarray,
    ids: np.ndarray,
    accuracy: np.ndarray,
    model: np.ndarray,
) -> str:
    local = (ts + UTC_OFFSET).astype("datetime64[s]")
    stamps = np.datetime_as_string(local, unit="s")
    lat = LAT0 + xy[:, 1] * M_LAT
    lon = LON0 + xy[:, 0] * M_LON
    return "".join(
        f'{{"id":"c{i:09d}","ts":"{s}+08:00","type":"checkin","account":"u{a:07d}",'
        f'"device":"d{a:07d}","device_model":"{MODELS[m]}","lat":{la:.6f},"lon":{lo:.6f},'
        f'"accuracy_m":{ac:.1f},"point":"p{p:04d}","app":"{APP}"}}\n'
        for i, s, a, m, la, lo, ac, p in zip(
            ids.tolist(),
            stamps.tolist(),
            acc.tolist(),
            model[acc].tolist(),
            lat.tolist(),
            lon.tolist(),
            accuracy.tolist(),
            point.tolist(),
            strict=True,
        )
    )
