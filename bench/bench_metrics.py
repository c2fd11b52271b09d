"""/metrics of a daemon watching `--apps` apps: page size, render time, serve time from a
client over HTTP, and the daemon's memory.

The simulator serves the load apps in its own process; the real Daemon polls them until
every app is caught up, runs one detector pass (so the per-app assessment series are
there), and then, with its pollers still running:

  page     bytes of the rendered page and its sample lines
  gzip     the page gzipped as /metrics serves it to a scraper that accepts it (built once
           per render, in a thread): bytes, ratio, milliseconds
  render   render_metrics(daemon), a render from scratch, timed `--renders` times: p50, max
  render_steady  the daemon's own renderer (it keeps each app's lines and re-formats only
           the apps that changed), 1 s apart while the pollers run, as its render loop does
  serve    `--requests` GETs of /metrics, `--gap` s apart, from a client in another process
           (http.client, keep-alive), time to the last byte: p50, p99, max; goal < 50 ms
  serve_idle  the same after the pollers are stopped: no re-render competes with serving
  memory   the daemon process's resident set size

`--profile` also prints the hot spots of one render under cProfile.

Figures only: nothing here asserts timing.

    .venv/bin/python bench/bench_metrics.py [--apps 2000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import http.client
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from bench_fleet_poll import warm_up
from common import (
    SimulatorProcess,
    figure,
    hot_spots,
    percentile,
    pin_cores,
    rss_mib,
    write_daemon_config,
)
from tapwatch.daemon.runtime import Daemon
from tapwatch.exporters.metrics import render_metrics
from tapwatch.exporters.scrape import GZIP_LEVEL
from tapwatch.simulator import SimulatorOptions

SERVE_GOAL_S = 0.050


def _scrape(port: int, n: int, gap: float, cpu: int | None, conn: Connection) -> None:
    """Client process: n sequential GETs of /metrics, `gap` seconds apart; sends back
    (latencies, bytes)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out: list[float] = []
    size = 0
    for i in range(n):
        if i and gap:
            time.sleep(gap)
        t0 = time.perf_counter()
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read()
        out.append(time.perf_counter() - t0)
        if r.status != 200:
            raise RuntimeError(f"/metrics answered {r.status}")
        size = len(body)
    c.close()
    conn.send((out, size))
    conn.close()


async def serve_times(
    port: int, n: int, gap: float, cpu: int | None
) -> tuple[list[float], int]:
    """Run the client process while this event loop keeps serving (and polling)."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=_scrape, args=(port, n, gap, cpu, theirs), daemon=True)
    p.start()
    theirs.close()
    try:
        return await asyncio.get_running_loop().run_in_executor(None, ours.recv)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, p.join, 30)


def serve_figure(name: str, lat: list[float], size: int) -> None:
    figure(
        name,
        p50_ms=1000 * percentile(lat, 50),
        p99_ms=1000 * percentile(lat, 99),
        max_ms=1000 * max(lat),
        n=len(lat),
        over_goal=sum(1 for x in lat if x >= SERVE_GOAL_S),
        bytes=size,
        goal_ms=1000 * SERVE_GOAL_S,
        goal_met=percentile(lat, 99) < SERVE_GOAL_S,
    )


async def run(args: argparse.Namespace, config_path: Path, client_core: int | None) -> None:
    d = Daemon(config_path)
    await d.start()
    try:
        took = await warm_up(d, args.warmup)
        t0 = time.perf_counter()
        await d.detect_once()
        detect_s = time.perf_counter() - t0
        figure(
            "setup_done",
            warmup_s=took,
            apps=len(d.states),
            caught_up=sum(1 for s in d.states.values() if s.caught_up),
            detect_s=detect_s,
            assessed=len(getattr(d.detect.result, "metrics", {})),
        )
        times = []
        body = b""
        for _ in range(args.renders):
            t = time.perf_counter()
            body = render_metrics(d)
            times.append(time.perf_counter() - t)
            await asyncio.sleep(0)  # let the pollers run between renders, as in production
        samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        figure("page", bytes=len(body), samples=samples, bytes_per_app=len(body) / len(d.states))
        # what a scrape with Accept-Encoding: gzip gets, compressed once per render
        t = time.perf_counter()
        packed = gzip.compress(body, GZIP_LEVEL, mtime=0)
        figure(
            "gzip",
            bytes=len(packed),
            ratio=len(body) / len(packed),
            ms=1000 * (time.perf_counter() - t),
        )
        figure(
            "render",
            p50_ms=1000 * percentile(times, 50),
            max_ms=1000 * max(times),
            n=len(times),
        )
        steady = []
        for _ in range(args.renders):
            await asyncio.sleep(1.0)  # the render loop's pace: polls end in between
            steady.append(await d.render_metrics())
        figure(
            "render_steady",
            p50_ms=1000 * percentile(steady, 50),
            max_ms=1000 * max(steady),
            n=len(steady),
        )
        if args.profile:
            prof = cProfile.Profile(time.thread_time)
            prof.runcall(render_metrics, d)
            hot_spots([prof], args.top)
        assert d.port is not None
        # while polling, as in production: the render loop runs on the same event loop
        lat, size = await serve_times(d.port, args.requests, args.gap, client_core)
        serve_figure("serve", lat, size)
        # pollers stopped, nothing left to re-render: the cost of serving the bytes alone
        for p in d.pollers.values():
            await p.stop()
        await asyncio.sleep(1.5)  # let a render already due finish
        lat, size = await serve_times(d.port, args.requests, args.gap, client_core)
        serve_figure("serve_idle", lat, size)
        cur, peak = rss_mib()
        figure("memory", rss_mib=cur, peak_rss_mib=peak)
    finally:
        await d.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--apps", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument(
        "--gap",
        type=float,
        default=0.05,
        help="seconds between requests, so they sample the re-render cycle, not one instant",
    )
    ap.add_argument("--renders", type=int, default=20)
    ap.add_argument("--warmup", type=float, default=120.0, help="longest warm-up, seconds")
    ap.add_argument("--days", type=int, default=1, help="days of history each app serves")
    ap.add_argument("--scale", type=float, default=0.02, help="multiplies each app's users")
    ap.add_argument("--profile", action="store_true", help="cProfile one render")
    ap.add_argument("--top", type=int, default=12, help="hot spots to print with --profile")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to separate cores")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: proves the script works")
    args = ap.parse_args(argv)
    if args.quick:
        args.apps, args.requests, args.renders, args.warmup, args.gap = 40, 20, 3, 15.0, 0.0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    ours, other = pin_cores(not args.no_pin)
    opts = SimulatorOptions(
        history_days=args.days,
        scale=args.scale,
        extra_apps=args.apps,
        include=[f"load-{k:05d}" for k in range(1, args.apps + 1)],
        cache_events=10_000_000,
    )
    with tempfile.TemporaryDirectory(prefix="tapwatch-bench-") as tmp_s:
        tmp = Path(tmp_s)
        with SimulatorProcess(opts, tmp / "apps.d" / "fleet.yaml", cpu=other, warm=True) as sim:
            figure("setup", apps=sim.apps, days=args.days, events_served=sim.events,
                   daemon_core=ours, other_core=other)
            # the detect loop stays out of the way: the one pass above is run by hand
            config = write_daemon_config(tmp, tmp / "apps.d", detect={"interval": 3600})
            asyncio.run(run(args, config, other))
    return 0


if __name__ == "__main__":
    sys.exit(main())
