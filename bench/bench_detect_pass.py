"""The daemon's full detector pass over a large simulated fleet, timed against one poll
interval (issue goal: 2,000 apps within 30 s).

It fills a store the way the daemon does (store.ingest per app-day batch, the real
rollups), holding back each app's last 30 minutes, then times exactly what
`Daemon.detect_once` runs — the input cache's update (store → windows and rollups) and
`engine.run_fleet` — twice: a cold pass (first after start: everything read), and a warm
pass after the held-back 30 minutes are ingested (more than one 30 s poll interval brings).
Prints figures; asserts nothing about time.

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
from tapwatch.daemon.detect_worker import InputCache
from tapwatch.detectors.engine import FleetResult, run_fleet
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
        held: dict[str, list] = {}
        for app in apps:
            norm = EventNormaliser(app.id, p, now, 600.0, 0.0)
            tz = app_timezone(app, config.daemon)
            for day in range(sim.today() - args.days, sim.today() + 1):
                evs = [
                    e
                    for raw in sim.events_for_day(app.id, day)
                    if (e := norm.from_mapping(raw)) is not None
                ]
                held[app.id] = [e for e in evs if e.ts > now - 1800]
                evs = [e for e in evs if e.ts <= now - 1800]
                if evs:
                    store.ingest(app.id, IngestBatch(events=evs), now)
                    n_events += len(evs)
        fill_s = time.perf_counter() - t0
        print(
            f"filled store: {len(apps)} apps, {n_events:,} events, {args.days} days "
            f"({fill_s:.0f}s, {n_events / fill_s:,.0f} events/s incl. generation)"
        )
        cache = InputCache()

        def one_pass(label: str, at: float) -> FleetResult:
            t1 = time.perf_counter()
            inputs = cache.build(store, apps, config, at)
            t2 = time.perf_counter()
            result = run_fleet(inputs, config.daemon.detectors)
            t3 = time.perf_counter()
            raw = sum(len(i.events) for i in inputs)
            rows = sum(len(i.account_days) for i in inputs)
            print(f"{label} pass: inputs {t2 - t1:.2f}s ({raw:,} raw events, {rows:,} "
                  f"account-days), detectors {t3 - t2:.2f}s, total {t3 - t1:.2f}s "
                  f"= {100 * (t3 - t1) / args.interval:.0f}% of a {args.interval:.0f}s "
                  f"poll interval")
            return result

        one_pass("cold", now - 1800)
        n_new = 0
        for app in apps:
            if held.get(app.id):
                store.ingest(app.id, IngestBatch(events=held[app.id]), now)
                n_new += len(held[app.id])
        print(f"ingested the held-back last 30 minutes: {n_new:,} events")
        result = one_pass("warm", now)
        bands: dict[str, int] = {}
        for a in result.assessments.values():
            bands[a.band] = bands.get(a.band, 0) + 1
        print(f"bands: {bands}; findings: {len(result.findings)}; "
              f"detector errors: {len(result.failures)}; peak RSS {rss_mib():.0f} MiB")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
