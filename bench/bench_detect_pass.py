"""The daemon's full detector pass over a large simulated fleet, timed against one poll
interval (issue goal: 2,000 apps within 30 s).

It fills a store the way the daemon does (store.ingest per app-day batch, the real
rollups), then times exactly what `Daemon.detect_once` runs: `build_inputs` (store → windows
and rollups) and `engine.run_fleet`. Prints figures; asserts nothing about time.

    .venv/bin/python bench/bench_detect_pass.py [--apps 2000] [--days 100] [--scale 0.5]
    .venv/bin/python bench/bench_detect_pass.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tapwatch.config import app_timezone, load_config
from tapwatch.daemon.detect_worker import build_inputs
from tapwatch.detectors.engine import run_fleet
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.sources.base import EventNormaliser
from tapwatch.store.sqlite import IngestBatch, Store


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--apps", type=int, default=2000, help="generic load apps")
    ap.add_argument("--days", type=int, default=100, help="history per app")
    ap.add_argument("--scale", type=float, default=0.5, help="users per app × this")
    ap.add_argument("--interval", type=float, default=30.0, help="the poll interval to beat")
    ap.add_argument("--quick", action="store_true", help="50 apps, 40 days (smoke run)")
    args = ap.parse_args(argv)
    if args.quick:
        args.apps, args.days = 50, 40
    sim = Simulator(
        SimulatorOptions(
            seed=3, history_days=args.days, scale=args.scale, extra_apps=args.apps,
            include=[f"load-{k:05d}" for k in range(1, args.apps + 1)],
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)

        async def registry() -> None:
            await sim.start()
            sim.write_registry(tmpd / "apps.d" / "apps.yaml")
            await sim.stop()

        (tmpd / "apps.d").mkdir()
        asyncio.run(registry())
        (tmpd / "key").write_text("ab" * 32)
        cfg = {"pseudonymisation": {"key_file": "key"}, "apps_dir": "apps.d"}
        (tmpd / "tapwatch.yaml").write_text(yaml.safe_dump(cfg))
        config = load_config(tmpd / "tapwatch.yaml")
        apps = [a.config for a in config.apps]
        store = Store(tmpd / "store.sqlite")
        p = Pseudonymizer(b"bench-key-0123456789")
        now = sim.now()
        t0 = time.perf_counter()
        n_events = 0
        for app in apps:
            norm = EventNormaliser(app.id, p, now, 600.0, 0.0)
            tz = app_timezone(app, config.daemon)
            for day in range(sim.today() - args.days, sim.today() + 1):
                evs = [
                    e
                    for raw in sim.events_for_day(app.id, day)
                    if (e := norm.from_mapping(raw)) is not None
                ]
                if evs:
                    store.ingest(app.id, IngestBatch(events=evs), tz, now)
                    n_events += len(evs)
        fill_s = time.perf_counter() - t0
        print(
            f"filled store: {len(apps)} apps, {n_events:,} events, {args.days} days "
            f"({fill_s:.0f}s, {n_events / fill_s:,.0f} events/s incl. generation)"
        )
        t1 = time.perf_counter()
        inputs = build_inputs(store, apps, config, now)
        t2 = time.perf_counter()
        result = run_fleet(inputs, config.daemon.detectors)
        t3 = time.perf_counter()
        raw = sum(len(i.events) for i in inputs)
        rows = sum(len(i.account_days) for i in inputs)
        total = t3 - t1
        print(f"build_inputs (store → windows, rollups): {t2 - t1:.2f}s "
              f"({raw:,} raw events, {rows:,} account-days)")
        print(f"run_fleet (all detectors + assessment):  {t3 - t2:.2f}s")
        print(f"full detector pass: {total:.2f}s for {len(apps)} apps "
              f"= {100 * total / args.interval:.0f}% of a {args.interval:.0f}s poll interval")
        bands: dict[str, int] = {}
        for a in result.assessments.values():
            bands[a.band] = bands.get(a.band, 0) + 1
        print(f"bands: {bands}; findings: {len(result.findings)}; "
              f"detector errors: {len(result.failures)}; peak RSS {rss_mib():.0f} MiB")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
