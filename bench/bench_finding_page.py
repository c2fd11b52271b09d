"""One finding's page under many concurrent inspectors: latency and throughput.

The simulator serves the planted fleet in its own process; the real Daemon ingests it,
runs one detector pass, and keeps polling with its detect loop on (as in production, where
a detector pass reads the store while inspectors browse). A client process then runs
`--clients` concurrent clients (aiohttp, keep-alive, HTTP basic auth as scripts use it;
one request first, so the daemon's cache of successful bcrypt checks holds the login) that
each GET the same path again and again for `--duration` seconds:

  page   /findings/{id} of the bulk check-in finding naming the most events (its evidence
         plots and events table)
  api    /api/v1/findings/{id} of the same finding (JSON with its evidence events)

For each: requests answered, p50/p90/p99/max latency (time to the last byte), throughput,
and the daemon process's CPU seconds per request. With closed-loop clients, p50 is about
clients / throughput: it falls only when the daemon does less work per request or does it
in parallel.

Figures only: nothing here asserts timing.

    .venv/bin/python bench/bench_finding_page.py [--clients 200] [--duration 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp

from bench_fleet_poll import warm_up
from common import SimulatorProcess, figure, percentile, pin_cores, write_daemon_config
from tapwatch.daemon.auth import create_demo_users
from tapwatch.daemon.runtime import Daemon
from tapwatch.simulator import SimulatorOptions


async def _clients(url: str, auth: str, n: int, duration: float) -> tuple[list[float], int]:
    lat: list[float] = []
    errors = 0
    end = time.perf_counter() + duration
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=conn, headers={"Authorization": auth}, timeout=aiohttp.ClientTimeout(120)
    ) as s:

        async def one() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                async with s.get(url) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(one() for _ in range(n)))
    return lat, errors


def _client_main(
    url: str, auth: str, n: int, duration: float, cpu: int | None, conn: Connection
) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    conn.send(asyncio.run(_clients(url, auth, n, duration)))
    conn.close()


async def load(
    d: Daemon, path: str, auth: str, n: int, duration: float, cpu: int | None
) -> tuple[list[float], int, float]:
    """Run the client process while this loop serves; (latencies, errors, daemon CPU s)."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    url = f"http://127.0.0.1:{d.port}{path}"
    p = ctx.Process(target=_client_main, args=(url, auth, n, duration, cpu, theirs), daemon=True)
    cpu0 = time.process_time()
    p.start()
    theirs.close()
    loop = asyncio.get_running_loop()
    try:
        lat, errors = await loop.run_in_executor(None, ours.recv)
    finally:
        await loop.run_in_executor(None, p.join, 30)
    return lat, errors, time.process_time() - cpu0


async def run(args: argparse.Namespace, config: Path, creds: dict[str, str], cpu: int | None
              ) -> None:
    d = Daemon(config)
    await d.start()
    try:
        took = await warm_up(d, args.warmup)
        await d.detect_once()
        from tapwatch.store.findings import FindingQuery, evidence_event_ids, iter_findings
        from tapwatch.store.sqlite import Store

        # the bulk check-in finding naming the most events (the same one on every run: the
        # simulator's seed is fixed, finding ids are not, as the pseudonym key is fresh)
        reader = Store(d.store.path, readonly=True)
        recs = list(iter_findings(reader, FindingQuery(kinds=("bulk_checkin",))))
        reader.close()
        rec = max(
            recs,
            key=lambda r: (
                sum(len(v) for v in evidence_event_ids(r.finding).values()),
                r.finding.window_start,
            ),
        )
        fid = rec.finding.id
        named = sum(len(v) for v in evidence_event_ids(rec.finding).values())
        figure("setup_done", warmup_s=took, apps=len(d.states), finding=fid,
               evidence_events=named, findings=len(recs))
        auth = aiohttp.encode_basic_auth("inspector", creds["inspector"])
        # one request first: the daemon caches a successful bcrypt check, and 200 clients
        # opening with the same login would otherwise measure 200 bcrypt runs at once
        async with (
            aiohttp.ClientSession(headers={"Authorization": auth}) as s,
            s.get(f"http://127.0.0.1:{d.port}/api/v1") as r,
        ):
            assert r.status == 200, r.status
        for name, path in (("page", f"/findings/{fid}"), ("api", f"/api/v1/findings/{fid}")):
            lat, errors, cpu_s = await load(d, path, auth, args.clients, args.duration, cpu)
            figure(
                name,
                clients=args.clients,
                n=len(lat),
                errors=errors,
                p50_ms=1000 * percentile(lat, 50),
                p90_ms=1000 * percentile(lat, 90),
                p99_ms=1000 * percentile(lat, 99),
                max_ms=1000 * max(lat),
                per_s=len(lat) / args.duration,
                daemon_cpu_ms_per_request=1000 * cpu_s / max(1, len(lat)),
            )
    finally:
        await d.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load per path")
    ap.add_argument("--days", type=int, default=100, help="days of history the fleet serves")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies each app's users")
    ap.add_argument("--app", action="append", help="only these apps (default: the demo's fleet)")
    ap.add_argument("--warmup", type=float, default=300.0, help="longest warm-up, seconds")
    ap.add_argument(
        "--detect-interval",
        type=float,
        default=10.0,
        help="seconds between detector passes during the load (3600: none)",
    )
    ap.add_argument("--no-pin", action="store_true", help="do not pin to separate cores")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: proves the script works")
    args = ap.parse_args(argv)
    if args.quick:
        args.clients, args.duration, args.days, args.scale = 10, 2.0, 10, 0.25
        args.app = args.app or ["risk-point-checkin", "daily-work"]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ours, other = pin_cores(not args.no_pin)
    opts = SimulatorOptions(history_days=args.days, scale=args.scale, include=args.app,
                            poll_interval="5s")
    with tempfile.TemporaryDirectory(prefix="tapwatch-bench-") as tmp_s:
        tmp = Path(tmp_s)
        creds = create_demo_users(tmp / "auth")
        with SimulatorProcess(opts, tmp / "apps.d" / "fleet.yaml", cpu=other, warm=True) as sim:
            figure("setup", apps=sim.apps, days=args.days, events_served=sim.events,
                   daemon_core=ours, client_core=other)
            detect = {"interval": args.detect_interval}
            config = write_daemon_config(tmp, tmp / "apps.d", detect=detect)
            text = config.read_text().replace(
                "server:\n  listen: 127.0.0.1:0",
                f"server:\n  listen: 127.0.0.1:0\n  users_file: {tmp / 'auth/users.yaml'}",
            )
            config.write_text(text)
            asyncio.run(run(args, config, creds, other))
    return 0


if __name__ == "__main__":
    sys.exit(main())
