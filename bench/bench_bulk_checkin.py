"""Throughput of the bulk check-in detector on a 10M-check-in window.

Builds the EventWindow directly as numpy columns (EventWindow.from_events makes a Python
object per event and would dominate the run), plants one-person rings, then times
`bulk_checkin.detect` on one core. Prints events/s, the window's bytes/event and peak RSS.
Figures only: nothing here asserts timing.

    .venv/bin/python bench/bench_bulk_checkin.py [--events 10000000] [--points]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time

import numpy as np

from tapwatch.detectors import bulk_checkin
from tapwatch.detectors.base import AppProfile, CheckinPoint, DetectorInput
from tapwatch.events import EventType
from tapwatch.window import AccountDays, AppHours, EventWindow

LAT0, LON0 = 30.27, 120.15
M_LAT = 1.0 / 110_574.0
M_LON = 1.0 / (111_320.0 * math.cos(math.radians(LAT0)))
START = 1_795_000_000.0  # a Monday in 2026, 00:00 local-ish


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_window(
    n: int, n_accounts: int, n_rings: int, n_points: int, seed: int
) -> tuple[EventWindow, tuple[CheckinPoint, ...], np.ndarray]:
    """An app's 7-day window: `n` check-ins of `n_accounts` accounts over a 40 km city,
    each account at its own few places in daytime, plus `n_rings` rings of 10 phones."""
    rng = np.random.default_rng(seed)
    ring_events = n_rings * 10
    m = n - ring_events
    acc = rng.integers(0, n_accounts, m).astype(np.int32)
    # Each account has three usual places: home, work, one other.
    places = rng.uniform(-20_000, 20_000, (n_accounts, 3, 2))
    which = rng.choice(3, m, p=[0.3, 0.5, 0.2])
    xy = places[acc, which] + rng.normal(0, 10, (m, 2))
    day = rng.integers(0, 7, m)
    sod = np.clip(rng.normal(13 * 3600, 3 * 3600, m), 6 * 3600, 23 * 3600)
    ts = START + day * 86400.0 + sod

    # Rings: 10 phones 4-10 s apart within a few metres, at a risk point, on its own network.
    r_acc = rng.integers(0, n_accounts, ring_events).astype(np.int32)
    r_xy = np.repeat(rng.uniform(-20_000, 20_000, (n_rings, 2)), 10, axis=0)
    r_xy += rng.normal(0, 3, (ring_events, 2))
    gaps = rng.uniform(4, 10, (n_rings, 10)).cumsum(axis=1).ravel()
    r_ts = np.repeat(START + rng.integers(0, 7, n_rings) * 86400.0 + 9 * 3600, 10) + gaps

    ts = np.concatenate([ts, r_ts])
    acc = np.concatenate([acc, r_acc])
    xy = np.concatenate([xy, r_xy])
    order = np.argsort(ts, kind="stable")
    ts, acc, xy = ts[order], acc[order], xy[order]
    planted = order >= m
    del order

    n_models = 40
    models = [f"model-{i}" for i in range(n_models)]
    networks = [f"net-{i}" for i in range(50_000)]
    devices = [f"dev-{i}" for i in range(n_accounts)]
    strings = models + networks + devices
    dev_code = (n_models + len(networks) + acc).astype(np.int32)
    # Zipf-like model popularity; network per account per day from a pool.
    pop = 1.0 / np.arange(1, n_models + 1)
    model_of_acc = rng.choice(n_models, n_accounts, p=pop / pop.sum()).astype(np.int32)
    net = (
        n_models
        + (acc.astype(np.int64) * 7 + ((ts - START) // 86400).astype(np.int64)) % len(networks)
    ).astype(np.int32)
    none = np.full(n, -1, dtype=np.int32)
    nan32 = np.full(n, np.nan, dtype=np.float32)
    win = EventWindow(
        app="bench-app",
        ts=ts,
        type=np.full(n, int(EventType.checkin), dtype=np.uint8),
        account=acc,
        unit=none,
        device=dev_code,
        device_model=model_of_acc[acc],
        network=net,
        point=none,
        target=none,
        content_hash=none,
        photo_hash=none,
        lat=LAT0 + xy[:, 1] * M_LAT,
        lon=LON0 + xy[:, 0] * M_LON,
        accuracy_m=rng.uniform(5, 25, n).astype(np.float32),
        duration_s=nan32,
        playback_rate=nan32,
        position_s=nan32,
        ids=np.char.add(b"e", np.arange(n).astype("S11")),
        accounts=[f"acct-{i}" for i in range(n_accounts)],
        strings=strings,
    )
    pts = tuple(
        CheckinPoint(
            id=f"RP-{i}",
            lat=LAT0 + float(y) * M_LAT,
            lon=LON0 + float(x) * M_LON,
            radius_m=80.0,
        )
        for i, (x, y) in enumerate(rng.uniform(-20_000, 20_000, (n_points, 2)))
    )
    return win, pts, planted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--accounts", type=int, default=300_000)
    ap.add_argument("--rings", type=int, default=200)
    ap.add_argument("--points", type=int, default=0, help="declared check-in points")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    win, pts, planted = build_window(args.events, args.accounts, args.rings, args.points, args.seed)
    build_s = time.perf_counter() - t0
    rss_built = rss_mb()
    inp = DetectorInput(
        app=AppProfile(id="bench-app", points=pts),
        now=float(win.ts[-1]) + 60,
        events=win,
        account_days=AccountDays.from_rows([], []),
        app_hours=AppHours.from_rows([]),
    )
    settings = bulk_checkin.Settings()
    t0, c0 = time.perf_counter(), time.process_time()
    findings = bulk_checkin.detect(inp, settings)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(win)
    print(f"cpu affinity: {len(os.sched_getaffinity(0))} core(s) available; numpy single-threaded")
    print(f"events:                 {n:,}  (declared points: {len(pts)})")
    print(f"window build (setup):   {build_s:.1f} s")
    print(f"window bytes/event:     {win.nbytes / n:.1f}")
    print(f"detect():               {secs:.2f} s  ->  {n / secs / 1e6:.2f} M events/s")
    print(f"detect() CPU time:      {cpu:.2f} s  ->  {n / cpu / 1e6:.2f} M events/CPU-s")
    print(f"load average (1 min):   {os.getloadavg()[0]:.1f}")
    ring_ids = set(win.ids[planted].tolist())
    hits = sum(1 for f in findings if ring_ids & {i.encode() for i in f.evidence["event_ids"]})
    print(
        f"findings:               {len(findings)} ({hits} on planted rings of {args.rings}; "
        f"{len(findings) - hits} on chance coincidences of the synthetic background)"
    )
    print(f"peak RSS after build:   {rss_built:,.0f} MiB")
    print(
        f"peak RSS after detect:  {rss_mb():,.0f} MiB  "
        f"(+{(rss_mb() - rss_built) * 2**20 / n:.0f} bytes/event for detect)"
    )


if __name__ == "__main__":
    main()
