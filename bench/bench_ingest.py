"""End-to-end ingest throughput: simulator -> HTTP on 127.0.0.1 -> decode, validation,
pseudonymisation -> de-duplication and the SQLite store, on one core.

The simulator runs in its own process (pinned to another core, its history rendered before
the clock starts), so the figures are the daemon's own. Three passes over the same pages:

  ceiling    fetch and decode only: the same GETs as a poll (usage, then the pages), each
             page decoded in one msgspec call; no per-event Python at all
  normalise  UsageApiSource.poll with a PollContext: the same, plus validation, clock
             checks and pseudonyms (EventNormaliser); the batches are dropped
  ingest     AppPoller.poll_once, the daemon's own poll: the same, plus AsyncStore.ingest
             (de-duplication, raw batch, rollups, counters and cursor in one transaction)

Each pass polls the apps concurrently, as the daemon does, until every one is caught up,
with a fresh pseudonym cache (and the ingest pass a fresh store). All run `--repeat` times;
the summary gives the medians, as the machine may be shared, and ingest as a fraction of
the ceiling measured in the same rounds. Then `stages`: the same pages, fetched once more and
kept (after the memory figure, which is of the passes), go through each stage without
HTTP or the event loop, timed alone in CPU µs per event (best of the rounds): page decode
(the poll's: the C page reader where it takes the page; the ceiling's is always msgspec's),
normalising, freeing the page's decoded objects, merging an app's pages into the
scheduler's COMMIT_EVENTS a batch, and the store's write of those batches; then `dedup`:
what the de-duplication tiers then hold (memory bytes per id in memory, ids on disk,
runs, lookups that went to disk; `--dedup-memory` sets the limit, store.dedup_memory, so
a small one shows the disk tier at work); `store_bytes`: the bytes the store's write of
those batches handed to write calls (WAL frames, checkpoints), and the pages each table
then holds, an event. `--breakdown` adds
`--repeat` more ingest passes that say where a whole pass's CPU goes, per thread (user and
system time of the event loop and of the store writer) and, within them, the time spent
in the same stages inside the pass: what the stages measured alone leave out is the rest
(HTTP, the event loop, the poll loop, hand-offs). `--profile` adds a last pass under
cProfile (event loop and store writer thread, their CPU time) and prints the top
functions by own time. `setup` says whether the normaliser's C extension runs
(TAPWATCH_NATIVE=0 measures the Python path). Figures only: nothing here asserts timing.

    .venv/bin/python bench/bench_ingest.py [--apps 4] [--days 30] [--scale 8] [--profile]
        [--breakdown] [--dedup-memory 64MiB]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

import tapwatch.daemon.scheduler as scheduler
import tapwatch.sources.normalise as normalise
import tapwatch.sources.usage_api as usage_api
from common import (
    Clock,
    SimulatorProcess,
    figure,
    hot_spots,
    pin_cores,
    rss_mib,
    write_daemon_config,
)
from tapwatch.config import AppConfig, Config, load_config
from tapwatch.daemon.scheduler import COMMIT_EVENTS, AppPoller, AppState, merge_batches
from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.events import decode_page
from tapwatch.pseudonym import Pseudonymizer, load_key
from tapwatch.simulator import SimulatorOptions
from tapwatch.sources.base import EventNormaliser, PollContext
from tapwatch.sources.http import get_bytes
from tapwatch.sources.registry import build_source
from tapwatch.store.dedup_tiers import DedupSize
from tapwatch.store.sqlite import IngestBatch, Store


def _session(config: Config) -> aiohttp.ClientSession:
    """The HTTP session as Daemon.start builds it."""
    c = config.daemon.collector
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=c.max_connections, limit_per_host=8),
        headers={"User-Agent": "tapwatch-bench", "Accept": "application/json"},
        auto_decompress=True,
    )


def _apps(config: Config, page_limit: int | None) -> list[AppConfig]:
    apps = [a.config for a in config.apps]
    if page_limit is not None:
        apps = [
            a.model_copy(update={"source": a.source.model_copy(update={"page_limit": page_limit})})
            for a in apps
        ]
    return apps


async def ceiling_pass(
    config: Config, apps: list[AppConfig], keep: list[tuple[str, bytes]] | None = None
) -> int:
    """Fetch every page of every app as a poll does and decode it (one call per page);
    nothing else (the pages' bodies are appended to `keep` if given). Returns events."""
    c = config.daemon.collector
    total = 0

    async def one(app: AppConfig) -> None:
        nonlocal total
        base = app.source.url.rstrip("/")
        timeout = app.source.timeout or c.default_timeout

        async def get(path: str, params: dict[str, str] | None = None) -> bytes:
            return await get_bytes(
                session,
                base + path,
                timeout=timeout,
                max_bytes=c.max_response_bytes,
                params=params,
            )

        cursor: str | None = None
        while True:
            await get("/v1/usage")
            for _ in range(app.source.max_pages_per_cycle):
                params = {"limit": str(app.source.page_limit)}
                if cursor:
                    params["cursor"] = cursor
                body = await get("/v1/events", params)
                if keep is not None:
                    keep.append((app.id, body))
                page = decode_page(body)
                if page.events is None:
                    raise RuntimeError(f"{app.id}: a page held a bad event")
                total += len(page.events)
                cursor = page.next_cursor or cursor
                if not page.has_more:
                    return

    async with _session(config) as session:
        await asyncio.gather(*(one(a) for a in apps))
    return total


async def normalise_pass(config: Config, apps: list[AppConfig], p: Pseudonymizer) -> int:
    """Fetch and normalise every page of every app, storing nothing. Returns events."""
    c = config.daemon.collector
    total = 0

    async def one(app: AppConfig) -> None:
        nonlocal total
        source = build_source(app.source)
        cursor: str | None = None
        while True:
            ctx = PollContext(
                app_id=app.id,
                session=session,
                pseudonymizer=p,
                now=time.time,
                timeout=app.source.timeout or c.default_timeout,
                max_response_bytes=c.max_response_bytes,
                max_clock_skew=c.max_clock_skew,
                oldest_accepted=time.time() - config.daemon.store.rollup_retention,
                cursor=cursor,
            )
            async for batch in source.poll(ctx):
                total += len(batch.events)
                if batch.rejected:
                    raise RuntimeError(f"{app.id}: rejected {dict(batch.rejected)}")
                cursor = batch.cursor or cursor
            if not ctx.backlog:
                return

    async with _session(config) as session:
        await asyncio.gather(*(one(a) for a in apps))
    return total


async def ingest_pass(
    config: Config,
    apps: list[AppConfig],
    p: Pseudonymizer,
    store_path: Path,
    profilers: tuple[cProfile.Profile, cProfile.Profile] | None = None,
    on_writer: Callable[[], None] | None = None,
) -> tuple[int, int, int]:
    """Poll every app with the daemon's AppPoller into a fresh store until caught up
    (`on_writer`, if given, is called on the store writer's thread before the polls and
    after them). Returns (events stored, duplicates, store bytes)."""
    d = config.daemon
    store = AsyncStore(store_path, dedup_memory=d.store.dedup_memory)
    states = {a.id: AppState(interval=30.0) for a in apps}
    try:
        async with _session(config) as session:
            pollers = [
                AppPoller(
                    a,
                    build_source(a.source),
                    store=store,
                    session=session,
                    pseudonymizer=p,
                    collector=d.collector,
                    rollup_retention=d.store.rollup_retention,
                    state=states[a.id],
                    on_cycle=lambda: None,
                    rng=random.Random(0),
                )
                for a in apps
            ]

            async def one(poller: AppPoller) -> None:
                while True:
                    _, backlog = await poller.poll_once()
                    if poller.state.up != 1:
                        raise RuntimeError(f"{poller.app.id}: {poller.state.history[-1]}")
                    if not backlog:
                        return

            if on_writer is not None:
                await store.write(on_writer)
            if profilers is not None:
                profilers[0].enable()
                await store.write(profilers[1].enable)  # the store writer's own thread
            try:
                await asyncio.gather(*(one(x) for x in pollers))
            finally:
                if profilers is not None:
                    await store.write(profilers[1].disable)
                    profilers[0].disable()
                if on_writer is not None:
                    await store.write(on_writer)
        size = await store.write(store.writer.size_bytes)
    finally:
        store.close()
    stored = sum(sum(s.ingested.values()) for s in states.values())
    dups = sum(s.rejected.get("duplicate", 0) for s in states.values())
    return stored, dups, size


def stage_costs(
    pages: list[tuple[str, bytes]], key: bytes, store_path: Path, config: Config
) -> tuple[dict[str, float], DedupSize]:
    """CPU seconds of each stage over these (app, page body) pairs, in this thread alone:
    decode, normalise (a fresh pseudonym cache), free (the page's decoded objects let go,
    as a poll does before the next page), merge (the pages of an app up to COMMIT_EVENTS
    a batch, as the scheduler does) and store (a fresh store, those batches); and what the
    store's de-duplication then holds."""
    clock = time.thread_time
    now = time.time()
    skew, retention = config.daemon.collector.max_clock_skew, config.daemon.store.rollup_retention
    p = Pseudonymizer(key)
    norms: dict[str, EventNormaliser] = {}
    batches: list[tuple[str, IngestBatch]] = []
    pending: dict[str, list[IngestBatch]] = {}
    spent = dict.fromkeys(("decode", "normalise", "free", "merge", "store"), 0.0)
    for app_id, body in pages:
        t0 = clock()
        page = usage_api.decode_page(body)  # the poll's (C where it takes the page)
        t1 = clock()
        norm = norms.setdefault(app_id, EventNormaliser(app_id, p, now, skew, now - retention))
        events = norm.from_page(page)
        cursor = page.next_cursor
        t2 = clock()
        del page
        t3 = clock()
        spent["decode"] += t1 - t0
        spent["normalise"] += t2 - t1
        spent["free"] += t3 - t2
        waiting = pending.setdefault(app_id, [])
        waiting.append(IngestBatch(events=events, cursor=cursor))
        if sum(len(b.events) for b in waiting) >= COMMIT_EVENTS:
            t0 = clock()
            batches.append((app_id, merge_batches(waiting)))
            spent["merge"] += clock() - t0
            pending[app_id] = []
    t0 = clock()
    batches += [(a, merge_batches(w)) for a, w in pending.items() if w]
    spent["merge"] += clock() - t0
    store = Store(store_path, dedup_memory=config.daemon.store.dedup_memory)
    try:
        w0 = _written()
        t0 = clock()
        for app_id, batch in batches:
            store.ingest(app_id, batch, now)
        spent["store"] = clock() - t0
        spent["written_bytes"] = _written() - w0
        spent.update(_table_bytes(store))
        size = store.dedup_size()
    finally:
        store.close()
    return spent, size


def _written() -> float:
    """Bytes this process has handed to write calls so far (Linux; NaN elsewhere): the
    store's WAL frames and its checkpoints' copies into the database file."""
    try:
        with open("/proc/self/io") as f:
            return float(next(line.split()[1] for line in f if line.startswith("wchar")))
    except (OSError, StopIteration):
        return float("nan")


def _table_bytes(store: Store) -> dict[str, float]:
    """Bytes of the store's pages by table (SQLite's dbstat, its indexes included): the
    raw batches, the id batches, and the rest; empty where dbstat is not built in."""
    try:
        rows = store._db.execute(
            "SELECT s.name, m.tbl_name, SUM(s.pgsize) FROM dbstat s "
            "LEFT JOIN sqlite_master m ON m.name=s.name GROUP BY s.name"
        ).fetchall()
    except sqlite3.Error:
        return {}
    out = {"event_batches_bytes": 0.0, "event_id_batches_bytes": 0.0, "other_table_bytes": 0.0}
    for name, table, size in rows:
        key = f"{table or name}_bytes"
        out[key if key in out else "other_table_bytes"] += size
    return out


def _thread_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of the calling thread (Linux)."""
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime, r.ru_stime


@contextlib.contextmanager
def _timed_inside(spent: dict[str, float]) -> Iterator[None]:
    """While open, the CPU time of the calling thread spent in each stage of a pass is
    added to `spent`: the page decode a poll calls, `EventNormaliser.from_page`, the
    scheduler's `merge_batches` and `Store.ingest` (the module attributes the daemon's
    code looks up at each call are wrapped, and restored after)."""
    targets: list[tuple[Any, str, str]] = [
        (usage_api, "decode_page", "decode"),
        (EventNormaliser, "from_page", "normalise"),
        (scheduler, "merge_batches", "merge"),
        (Store, "ingest", "store"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]

    def timed(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.thread_time() - t0

        return run

    for (owner, name, stage), (_, _, fn) in zip(targets, saved, strict=True):
        setattr(owner, name, timed(fn, stage))
    try:
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def breakdown_pass(
    config: Config, apps: list[AppConfig], key: bytes, store_path: Path
) -> dict[str, float]:
    """One ingest pass, and where its CPU went, in µs per stored event: each thread's user
    and system time (the event loop is this thread; the store writer's is read on its
    thread), the stages' time inside the pass, and what is left on each thread."""
    spent: dict[str, float] = {}
    writer: list[tuple[float, float]] = []
    loop0, cpu0 = _thread_cpu(), time.process_time()
    with _timed_inside(spent):
        stored, _, _ = asyncio.run(
            ingest_pass(
                config,
                apps,
                Pseudonymizer(key),
                store_path,
                on_writer=lambda: writer.append(_thread_cpu()),
            )
        )
    loop1, cpu = _thread_cpu(), time.process_time() - cpu0
    per = 1e6 / max(stored, 1)
    loop_user, loop_sys = loop1[0] - loop0[0], loop1[1] - loop0[1]
    (wu0, ws0), (wu1, ws1) = writer
    loop = loop_user + loop_sys
    inside = spent.get("decode", 0) + spent.get("normalise", 0) + spent.get("merge", 0)
    return {
        "events": stored,
        "cpu_us": cpu * per,
        "loop_user_us": loop_user * per,
        "loop_sys_us": loop_sys * per,
        "loop_decode_us": spent.get("decode", 0) * per,
        "loop_normalise_us": spent.get("normalise", 0) * per,
        "loop_merge_us": spent.get("merge", 0) * per,
        "loop_rest_us": (loop - inside) * per,
        "writer_user_us": (wu1 - wu0) * per,
        "writer_sys_us": (ws1 - ws0) * per,
        "writer_store_us": spent.get("store", 0) * per,
        "writer_rest_us": ((wu1 - wu0) + (ws1 - ws0) - spent.get("store", 0)) * per,
        "other_us": (cpu - loop - (wu1 - wu0) - (ws1 - ws0)) * per,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--apps", type=int, default=4, help="simulated load apps polled at once")
    ap.add_argument("--days", type=int, default=30, help="days of history each app serves")
    ap.add_argument("--scale", type=float, default=8.0, help="multiplies each app's users")
    ap.add_argument("--page-limit", type=int, help="events per page (default: the config's)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of both passes (medians)")
    ap.add_argument("--profile", action="store_true", help="add a cProfile'd ingest pass")
    ap.add_argument(
        "--breakdown", action="store_true", help="add ingest passes timed by thread and stage"
    )
    ap.add_argument("--top", type=int, default=15, help="hot spots to print with --profile")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to separate cores")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: proves the script works")
    ap.add_argument(
        "--dedup-memory", default="64MiB", help="store.dedup_memory (e.g. 2MiB: the disk tier)"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.apps, args.days, args.scale, args.top, args.repeat = 2, 2, 1.0, 5, 1

    ours, sim_core = pin_cores(not args.no_pin)
    load_ids = [f"load-{k:05d}" for k in range(1, args.apps + 1)]
    opts = SimulatorOptions(
        history_days=args.days,
        scale=args.scale,
        extra_apps=args.apps,
        include=load_ids,
        cache_events=50_000_000,
    )
    with tempfile.TemporaryDirectory(prefix="tapwatch-bench-") as tmp_s:
        tmp = Path(tmp_s)
        with SimulatorProcess(opts, tmp / "apps.d" / "fleet.yaml", cpu=sim_core, warm=True) as sim:
            config = load_config(
                write_daemon_config(tmp, tmp / "apps.d", store={"dedup_memory": args.dedup_memory})
            )
            apps = _apps(config, args.page_limit)
            key = load_key(config.daemon.pseudonymisation.key_file)
            figure(
                "setup",
                apps=len(apps),
                days=args.days,
                scale=args.scale,
                events_served=sim.events,
                page_limit=apps[0].source.page_limit,
                daemon_core=ours,
                simulator_core=sim_core,
                # the normaliser's C extension in use (TAPWATCH_NATIVE=0: the Python path)
                native=normalise.native is not None,
            )

            rates: dict[str, list[float]] = {
                k: [] for k in ("ceiling", "normalise", "ingest", "ceiling_cpu", "ingest_cpu")
            }
            for rnd in range(1, args.repeat + 1):
                n_ceiling = 0
                for name, run in (
                    ("ceiling", lambda: ceiling_pass(config, apps)),
                    ("normalise", lambda: normalise_pass(config, apps, Pseudonymizer(key))),
                ):
                    sim_cpu0 = sim.cpu_seconds()
                    clk = Clock().start()
                    n = asyncio.run(run())
                    clk.stop()
                    n_ceiling = n_ceiling or n
                    rates[name].append(n / clk.wall)
                    if name == "ceiling":
                        rates["ceiling_cpu"].append(n / clk.cpu)
                    figure(
                        name,
                        round=rnd,
                        events=n,
                        wall_s=clk.wall,
                        cpu_s=clk.cpu,
                        events_per_s=n / clk.wall,
                        events_per_cpu_s=n / clk.cpu,
                        simulator_cpu_s=sim.cpu_seconds() - sim_cpu0,
                    )

                store_path = tmp / f"store-{rnd}.sqlite"
                sim_cpu0 = sim.cpu_seconds()
                clk = Clock().start()
                stored, dups, size = asyncio.run(
                    ingest_pass(config, apps, Pseudonymizer(key), store_path)
                )
                clk.stop()
                rates["ingest"].append(stored / clk.wall)
                rates["ingest_cpu"].append(stored / clk.cpu)
                figure(
                    "ingest",
                    round=rnd,
                    events=stored,
                    duplicates=dups,
                    wall_s=clk.wall,
                    cpu_s=clk.cpu,
                    events_per_s=stored / clk.wall,
                    events_per_cpu_s=stored / clk.cpu,
                    simulator_cpu_s=sim.cpu_seconds() - sim_cpu0,
                    store_bytes_per_event=size / max(stored, 1),
                )
                if stored != n_ceiling:  # today's events keep arriving: a few more is normal
                    print(f"note: ceiling saw {n_ceiling} events, ingest {stored}", file=sys.stderr)
                for f in tmp.glob(store_path.name + "*"):
                    f.unlink()  # a round's store is not needed again; disk stays small

            med = {k: statistics.median(v) for k, v in rates.items()}
            figure(
                "summary",
                rounds=args.repeat,
                ceiling_events_per_s=med["ceiling"],
                normalise_events_per_s=med["normalise"],
                ingest_events_per_s=med["ingest"],
                ingest_events_per_cpu_s=med["ingest_cpu"],
                ceiling_events_per_cpu_s=med["ceiling_cpu"],
                fraction_of_ceiling=med["ingest"] / med["ceiling"],
                fraction_of_ceiling_cpu=med["ingest_cpu"] / med["ceiling_cpu"],
                goal_events_per_s=300_000,
                goal_met=med["ingest"] >= 300_000 and med["ingest"] >= 0.5 * med["ceiling"],
            )

            cur, peak = rss_mib()  # of the passes (the pages kept below would add to it)
            figure("memory", rss_mib=cur, peak_rss_mib=peak)

            pages: list[tuple[str, bytes]] = []
            n_pages = asyncio.run(ceiling_pass(config, apps, pages))
            stages: dict[str, list[float]] = {}
            for rnd in range(args.repeat):
                store_path = tmp / f"stages-{rnd}.sqlite"
                spent, dedup = stage_costs(pages, key, store_path, config)
                for k, v in spent.items():
                    stages.setdefault(k, []).append(v)
                for f in tmp.glob(store_path.name + "*"):
                    f.unlink()
            per_event = {k: v[-1] / max(n_pages, 1) for k, v in stages.items() if "bytes" in k}
            us = {
                k: 1e6 * min(v) / max(n_pages, 1) for k, v in stages.items() if k not in per_event
            }
            figure(
                "stages",
                events=n_pages,
                decode_us=us["decode"],
                normalise_us=us["normalise"],
                free_us=us["free"],
                merge_us=us["merge"],
                store_us=us["store"],
                total_us=sum(us.values()),
            )
            # what the store wrote an event: through write calls (WAL and checkpoints),
            # and the pages each table then holds
            figure("store_bytes", **{k.removesuffix("_bytes"): v for k, v in per_event.items()})
            figure(
                "dedup",
                limit_mib=dedup.limit_bytes / 2**20,
                memory_ids=dedup.memory_ids,
                memory_bytes_per_id=dedup.memory_tier_bytes / max(dedup.memory_ids, 1),
                disk_ids=dedup.disk_ids,
                filter_bytes_per_id=dedup.filter_bytes / max(dedup.disk_ids, 1),
                disk_runs=dedup.disk_runs,
                seals=dedup.seals,
                disk_lookups=dedup.disk_lookups,
                disk_block_reads=dedup.disk_block_reads,
            )

            if args.breakdown:
                for rnd in range(1, args.repeat + 1):
                    store_path = tmp / f"breakdown-{rnd}.sqlite"
                    figure("breakdown", round=rnd, **breakdown_pass(config, apps, key, store_path))
                    for f in tmp.glob(store_path.name + "*"):
                        f.unlink()

            if args.profile:
                # per-thread CPU time: waits and time lost to other processes do not count
                profilers = (cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time))
                clk = Clock().start()
                asyncio.run(
                    ingest_pass(
                        config, apps, Pseudonymizer(key), tmp / "profiled.sqlite", profilers
                    )
                )
                clk.stop()
                figure("profiled_ingest", wall_s=clk.wall, cpu_s=clk.cpu)
                hot_spots(profilers, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
