"""A fleet of simulated apps polled by the real Daemon: CPU share, poll lag, failures,
event-loop lag and memory.

The simulator serves `--apps` load apps (small per-app volume) in its own process, pinned
to another core; the Daemon runs in this process on one core, polling each app every
`--interval` seconds with its detect loop, metrics renderer and HTTP server running as in
production. After a warm-up (every app polled once and caught up with its short history,
or `--warmup` seconds), it is watched for `--duration` seconds:

  cpu      this process's CPU time / wall time over the window (1.0 = one core busy)
  polls    polls finished in the window, failed ones, and the expected apps*window/interval
  lag      AppState.poll_lag of each poll finished in the window (how late it started
           against its schedule): p50, p99, max
  loop     the daemon's own event-loop lag gauge, sampled every 0.25 s: p50, p99, max
  render   /metrics renders in the window: count, CPU seconds (on the event loop), longest
  detect   detector passes in the window and their wall time
  memory   resident set size at the end and at its peak

Figures only: nothing here asserts timing.

    .venv/bin/python bench/bench_fleet_poll.py [--apps 2000] [--interval 30] [--duration 180]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import (
    Clock,
    SimulatorProcess,
    figure,
    percentile,
    pin_cores,
    rss_mib,
    write_daemon_config,
)
from tapwatch.daemon.runtime import Daemon
from tapwatch.simulator import SimulatorOptions


async def warm_up(d: Daemon, limit: float) -> float:
    """Wait until every app has been polled and caught up (or `limit` s). Returns the time
    it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if all(s.up is not None and s.caught_up for s in d.states.values()):
            break
        await asyncio.sleep(0.25)
    return time.monotonic() - t0


async def watch(d: Daemon, duration: float) -> dict[str, object]:
    """Sample the daemon's state for `duration` seconds; figures of the window."""
    last = {a: s.last_attempt for a, s in d.states.items()}
    errors0 = Counter({a: sum(s.errors.values()) for a, s in d.states.items()})
    lags: list[float] = []
    loop_lags: list[float] = []
    polls = failed = 0
    ingested0 = sum(sum(s.ingested.values()) for s in d.states.values())
    clk = Clock().start()
    end = time.monotonic() + duration
    while time.monotonic() < end:
        await asyncio.sleep(0.25)
        loop_lags.append(d.loop_lag)
        for app_id, st in d.states.items():
            if st.last_attempt != last[app_id]:
                # a poll ended since the last sample; its lag stays until the next starts,
                # one interval later
                last[app_id] = st.last_attempt
                lags.append(st.poll_lag)
                polls += 1
                failed += 0 if st.history[-1].ok else 1
    clk.stop()
    reasons = Counter()
    for app_id, st in d.states.items():
        if sum(st.errors.values()) > errors0[app_id]:
            reasons.update(st.errors)
    return {
        "clock": clk,
        "lags": lags,
        "loop_lags": loop_lags,
        "polls": polls,
        "failed": failed,
        "reasons": dict(reasons),
        "events": sum(sum(s.ingested.values()) for s in d.states.values()) - ingested0,
    }


class CycleCosts:
    """Wraps the daemon's /metrics render and detector pass to add up what they cost: the
    render's CPU (it runs on the event loop thread) and each pass's wall time."""

    def __init__(self, d: Daemon) -> None:
        self.renders = 0
        self.render_cpu = 0.0
        self.render_max = 0.0
        self.passes = 0
        self.detect_wall = 0.0
        render, detect = d.render_metrics, d.detect_once

        async def timed_render() -> float:
            t = time.thread_time()
            took = await render()
            dt = time.thread_time() - t
            self.renders += 1
            self.render_cpu += dt
            self.render_max = max(self.render_max, dt)
            return took

        async def timed_detect() -> None:
            t = time.perf_counter()
            await detect()
            self.passes += 1
            self.detect_wall += time.perf_counter() - t

        # the render and detect loops call these through the instance
        d.render_metrics = timed_render  # type: ignore[method-assign]
        d.detect_once = timed_detect  # type: ignore[method-assign]

    def reset(self) -> None:
        self.renders = self.passes = 0
        self.render_cpu = self.render_max = self.detect_wall = 0.0


async def run(args: argparse.Namespace, config_path: Path, sim: SimulatorProcess) -> None:
    d = Daemon(config_path)
    costs = CycleCosts(d)
    await d.start()
    try:
        took = await warm_up(d, args.warmup)
        caught_up = sum(1 for s in d.states.values() if s.caught_up)
        figure(
            "warmup",
            seconds=took,
            apps=len(d.states),
            caught_up=caught_up,
            events=sum(sum(s.ingested.values()) for s in d.states.values()),
        )
        sim_cpu0 = sim.cpu_seconds()
        costs.reset()
        w = await watch(d, args.duration)
        clk = w["clock"]
        assert isinstance(clk, Clock)
        lags = w["lags"]
        loop_lags = w["loop_lags"]
        assert isinstance(lags, list) and isinstance(loop_lags, list)
        figure(
            "cpu",
            share=clk.cpu / clk.wall,
            cpu_s=clk.cpu,
            wall_s=clk.wall,
            simulator_share=(sim.cpu_seconds() - sim_cpu0) / clk.wall,
        )
        polls = int(w["polls"])  # type: ignore[call-overload]
        figure(
            "polls",
            done=polls,
            expected=round(len(d.states) * clk.wall / args.interval),
            per_s=polls / clk.wall,
            failed=w["failed"],
            events=w["events"],
            reasons=",".join(f"{k}:{v}" for k, v in sorted(w["reasons"].items())) or "-",  # type: ignore[attr-defined]
        )
        figure(
            "poll_lag",
            p50_s=percentile(lags, 50),
            p99_s=percentile(lags, 99),
            max_s=max(lags, default=float("nan")),
            n=len(lags),
        )
        figure(
            "loop_lag",
            p50_s=percentile(loop_lags, 50),
            p99_s=percentile(loop_lags, 99),
            max_s=max(loop_lags, default=float("nan")),
        )
        figure(
            "render",
            renders=costs.renders,
            cpu_s=costs.render_cpu,
            max_s=costs.render_max,
            share_of_daemon_cpu=costs.render_cpu / clk.cpu,
        )
        figure(
            "detect",
            passes=costs.passes,
            wall_s=costs.detect_wall,
            interval_s=d.config.daemon.detect.interval,
        )
        cur, peak = rss_mib()
        figure("memory", rss_mib=cur, peak_rss_mib=peak)
    finally:
        await d.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--apps", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=30.0, help="poll interval, seconds")
    ap.add_argument("--duration", type=float, default=180.0, help="measured window, seconds")
    ap.add_argument("--warmup", type=float, default=120.0, help="longest warm-up, seconds")
    ap.add_argument("--days", type=int, default=1, help="days of history each app serves")
    ap.add_argument("--scale", type=float, default=0.02, help="multiplies each app's users")
    ap.add_argument("--detect-interval", type=float, default=60.0)
    ap.add_argument("--no-pin", action="store_true", help="do not pin to separate cores")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: proves the script works")
    args = ap.parse_args(argv)
    if args.quick:
        args.apps, args.interval, args.duration, args.warmup = 40, 1.0, 3.0, 15.0
        args.detect_interval = 2.0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    ours, sim_core = pin_cores(not args.no_pin)
    opts = SimulatorOptions(
        history_days=args.days,
        scale=args.scale,
        extra_apps=args.apps,
        include=[f"load-{k:05d}" for k in range(1, args.apps + 1)],
        poll_interval=f"{args.interval:g}s",
        cache_events=10_000_000,
    )
    with tempfile.TemporaryDirectory(prefix="tapwatch-bench-") as tmp_s:
        tmp = Path(tmp_s)
        with SimulatorProcess(opts, tmp / "apps.d" / "fleet.yaml", cpu=sim_core, warm=True) as sim:
            figure(
                "setup",
                apps=sim.apps,
                interval_s=args.interval,
                duration_s=args.duration,
                days=args.days,
                events_served=sim.events,
                daemon_core=ours,
                simulator_core=sim_core,
            )
            config = write_daemon_config(
                tmp, tmp / "apps.d", detect={"interval": args.detect_interval}
            )
            asyncio.run(run(args, config, sim))
    return 0


if __name__ == "__main__":
    sys.exit(main())
