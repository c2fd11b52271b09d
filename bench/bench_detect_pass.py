"""The daemon's full detector pass over a large simulated fleet, timed against one poll
interval (issue goal: 2,000 apps within 30 s).

It fills a store the way the daemon does (store.ingest per app-day batch, the rollups
folded from the stored batches as the detector passes of a running daemon would have),
holding back each app's last 30 minutes, then times exactly what the daemon's detector
worker runs (run_detect_pass) — the fold of the batches stored since the last pass, the
input cache's update (store → windows and rollups) and `engine.run_fleet` — twice: a cold
pass (first after start: everything read), and a warm pass after the held-back 30 minutes
are ingested (more than one 30 s poll interval brings). CPU seconds are given beside the
wall-clock ones (the machine may be shared). Prints figures; asserts nothing about time.

    .venv/bin/python bench/bench_detect_pass.py [--apps 2000] [--days 100] [--scale 0.5]
    .venv/bin/python bench/bench_detect_pass.py --quick

`--fleet DIR` keeps the filled store (its backlog folded), the held-back events and the
clock in DIR and reuses them on the next run with the same DIR: A/B runs skip the fill and
judge the very same events at the very same instant. `--results FILE` writes both passes'
findings, assessments and metrics as JSON, to compare two runs exactly. `--at` sets the
instant the fleet is filled and judged at: the held-back half hour holds some 16,000 events
in the working day and a few hundred in the evening, so figures of runs made at different
hours compare only with the same `--at` (bench/README.md gives the one its figures used).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pickle
import pstats
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import msgspec
import yaml

from common import figure
from tapwatch.columns import EventColumns
from tapwatch.config import Config, load_config
from tapwatch.daemon.detect_worker import InputCache, fold
from tapwatch.detectors.engine import FleetResult, run_fleet
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.sources.base import EventNormaliser
from tapwatch.store.sqlite import IngestBatch, Store


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(sim: Simulator, tmpd: Path, days: int, scale: float) -> tuple[float, dict, dict, Config]:
    """The registry, config and a store of `days` of every app's events but its last 30
    minutes (held back for the warm pass), the backlog folded; the store is left closed in
    tmpd / "filled.sqlite". Returns (now, held-back events per app, setup figures, config)."""

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
    store = Store(tmpd / "filled.sqlite")
    p = Pseudonymizer(b"bench-key-0123456789")
    now = sim.now()
    t0 = time.perf_counter()
    n_events = 0
    held: dict[str, EventColumns] = {}
    for app in apps:
        norm = EventNormaliser(app.id, p, now, 600.0, 0.0)
        for day in range(sim.today() - days, sim.today() + 1):
            evs = norm.from_rows(sim.events_for_day(app.id, day))
            late = evs.ts > now - 1800
            held[app.id] = evs.select(late)
            evs = evs.select(~late)
            if len(evs):
                store.ingest(app.id, IngestBatch(events=evs), now)
                n_events += len(evs)
    fill_s = time.perf_counter() - t0
    t0 = time.process_time()
    folded = fold(store, config)
    store.close()
    setup = {
        "apps": len(apps), "events": n_events, "days": days, "scale": scale, "fill_s": fill_s,
        "backlog_fold_cpu_s": time.process_time() - t0, "folded": folded,
    }
    return now, held, setup, config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--apps", type=int, default=2000, help="generic load apps")
    ap.add_argument("--days", type=int, default=100, help="history per app")
    ap.add_argument("--scale", type=float, default=0.5, help="users per app × this")
    ap.add_argument("--interval", type=float, default=30.0, help="the poll interval to beat")
    ap.add_argument("--quick", action="store_true", help="50 apps, 40 days (smoke run)")
    ap.add_argument("--fleet", type=Path, help="keep / reuse the filled store in this directory")
    ap.add_argument("--results", type=Path, help="write both passes' results here (JSON)")
    ap.add_argument("--profile", type=int, default=0, help="print the warm pass's top N")
    ap.add_argument(
        "--repeat", type=int, default=0,
        help="run the detectors over the warm pass's inputs N more times: least CPU seconds "
        "(steadier than one pass on a shared machine)",
    )
    ap.add_argument(
        "--at", type=datetime.fromisoformat, metavar="RFC3339",
        help="fill and judge the fleet as of this instant (with a UTC offset; default: now)",
    )
    args = ap.parse_args(argv)
    if args.at is not None:
        if args.at.tzinfo is None:
            ap.error("--at needs a UTC offset, e.g. 2026-11-30T10:30:00+08:00")
        import time_machine  # the test extra, as tapwatch.fakeclock

        time_machine.travel(args.at, tick=True).start()  # over the suite's clock too
    if args.quick:
        args.apps, args.days = 50, 40
    sim = Simulator(
        SimulatorOptions(
            seed=3, history_days=args.days, scale=args.scale, extra_apps=args.apps,
            include=[f"load-{k:05d}" for k in range(1, args.apps + 1)],
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = args.fleet or Path(tmp)
        kept = tmpd / "fleet.pickle"
        if kept.exists():
            with kept.open("rb") as f:
                now, held, setup = pickle.load(f)
            made = (setup["apps"], setup["days"], setup["scale"])
            if made != (args.apps, args.days, args.scale):
                ap.error(f"{tmpd} holds a fleet of (apps, days, scale) = {made}")
            config = load_config(tmpd / "tapwatch.yaml")
            setup["reused"] = str(tmpd)
        else:
            tmpd.mkdir(parents=True, exist_ok=True)
            now, held, setup, config = fill(sim, tmpd, args.days, args.scale)
            if args.fleet:
                with kept.open("wb") as f:
                    pickle.dump((now, held, setup), f)
        figure("setup", **setup)
        # the warm pass ingests into the store: run on a copy of the filled one
        shutil.copyfile(tmpd / "filled.sqlite", tmpd / "store.sqlite")
        for suffix in ("-wal", "-shm"):
            (tmpd / f"store.sqlite{suffix}").unlink(missing_ok=True)
        store = Store(tmpd / "store.sqlite")
        apps = [a.config for a in config.apps]
        cache = InputCache()

        results: dict[str, FleetResult] = {}
        last_inputs: list = []

        def one_pass(label: str, at: float) -> FleetResult:
            prof = cProfile.Profile() if args.profile and label == "warm" else None
            if prof:
                prof.enable()
            t1, c1 = time.perf_counter(), time.process_time()
            n_folded = fold(store, config)
            t2, c2 = time.perf_counter(), time.process_time()
            inputs = cache.build(store, apps, config, at)
            t3, c3 = time.perf_counter(), time.process_time()
            result = results[label] = run_fleet(inputs, config.daemon.detectors)
            last_inputs[:] = inputs
            t4, c4 = time.perf_counter(), time.process_time()
            if prof:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
                pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
            figure(
                label,
                fold_s=t2 - t1,
                folded=n_folded,
                inputs_s=t3 - t2,
                raw_events=sum(len(i.events) for i in inputs),
                account_days=sum(len(i.account_days) for i in inputs),
                detectors_s=t4 - t3,
                fold_cpu_s=c2 - c1,
                inputs_cpu_s=c3 - c2,
                detectors_cpu_s=c4 - c3,
                total_s=t4 - t1,
                cpu_s=c4 - c1,
                share_of_interval=(t4 - t1) / args.interval,
                cpu_share_of_interval=(c4 - c1) / args.interval,
                findings=len(result.findings),
                peak_rss_mib=rss_mib(),
            )
            return result

        one_pass("cold", now - 1800)
        n_new = 0
        for app in apps:
            if len(held.get(app.id, ())):
                store.ingest(app.id, IngestBatch(events=held[app.id]), now)
                n_new += len(held[app.id])
        figure("held_back", events=n_new)
        result = one_pass("warm", now)
        if args.repeat:
            cpu = []
            for _ in range(args.repeat):
                c0 = time.process_time()
                run_fleet(last_inputs, config.daemon.detectors)
                cpu.append(time.process_time() - c0)
            figure("warm_detectors_again", runs=args.repeat, min_cpu_s=min(cpu),
                   median_cpu_s=sorted(cpu)[len(cpu) // 2])
        bands: dict[str, int] = {}
        for a in result.assessments.values():
            bands[a.band] = bands.get(a.band, 0) + 1
        figure("result", findings=len(result.findings), detector_errors=len(result.failures),
               peak_rss_mib=rss_mib(), bands=";".join(f"{k}={v}" for k, v in sorted(bands.items())))
        store.close()
        if args.results:
            args.results.write_bytes(msgspec.json.encode(
                {label: {
                    "findings": r.findings,
                    "assessments": r.assessments,
                    "metrics": r.metrics,
                    "duplicate_filings": r.duplicate_filings,
                    "failures": r.failures,
                } for label, r in results.items()},
                order="sorted",
            ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
