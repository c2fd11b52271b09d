"""`tapwatch demo`: the simulated fleet and the daemon together on free 127.0.0.1 ports.

Prints the URLs it serves (one line carries `http://127.0.0.1:PORT/metrics`), then a live
table of the apps: collection state, events stored, assessment band and score, findings.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

import yaml

from tapwatch.daemon.auth import create_demo_users
from tapwatch.daemon.runtime import Daemon
from tapwatch.pseudonym import generate_key_file
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.simulator.platform_scenarios import populate_demo, write_demo_registry
from tapwatch.simulator.platforms import PlatformFakes

#: one faulty app, so the collector-health view has something to show
DEMO_FAULTS = {"fault-http-500": "http_500"}


def write_demo_config(state_dir: Path, registry: Path) -> Path:
    """The daemon config the demo runs with: short intervals, free port, the demo users
    (`users.yaml`, written by create_demo_users)."""
    cfg: dict[str, object] = {
        "server": {"listen": "127.0.0.1:0", "users_file": "users.yaml"},
        "store": {"path": "store.sqlite", "raw_retention": "7d"},
        "pseudonymisation": {"key_file": "pseudonym.key"},
        "collector": {"default_interval": "5s", "default_timeout": "3s", "max_backoff": "30s"},
        "detect": {"interval": "10s"},
        "apps_dir": str(registry.parent.relative_to(state_dir)),
    }
    path = state_dir / "tapwatch.yaml"
    path.write_text("# Written by `tapwatch demo`.\n" + yaml.safe_dump(cfg, sort_keys=False))
    return path


def format_table(d: Daemon) -> str:
    """One line per app: state, events, band, score, open findings by kind."""
    result = d.detect.result
    metrics = getattr(result, "metrics", {}) if result is not None else {}
    open_by = d.detect.open_by_kind or {}
    rows = [("app", "up", "events", "band", "score", "findings")]
    for app in d.my_apps():
        st = d.states.get(app.id)
        if st is None:
            continue
        m = metrics.get(app.id)
        kinds = sorted(
            f"{k}×{n}" if n > 1 else k for (a, k), n in open_by.items() if a == app.id and n
        )
        rows.append(
            (
                app.id,
                "-" if st.up is None else ("up" if st.up else "DOWN"),
                str(sum(st.ingested.values())),
                m.band if m else "…",
                f"{m.shutdown_score:.0f}" if m else "",
                ", ".join(kinds),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
        for r in rows
    ]
    lines.insert(1, "-" * min(120, max(len(x) for x in lines)))
    return "\n".join(lines)


async def run_demo(
    state_dir: Path,
    duration: float = 0,
    seed: int = 1,
    refresh: float = 5.0,
    scale: float = 1.0,
    out: TextIO = sys.stdout,
) -> int:
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    for p in state_dir.glob("store.sqlite*"):  # every demo starts from an empty store
        p.unlink()
    sim = Simulator(SimulatorOptions(seed=seed, scale=scale, faults=dict(DEMO_FAULTS)))
    sim_port = await sim.start()
    registry = state_dir / "apps.d" / "demo-fleet.yaml"
    registry.parent.mkdir(exist_ok=True)
    sim.write_registry(registry)
    # WeCom, DingTalk and two official accounts, polled through the real adapters
    platforms = PlatformFakes()
    await platforms.start()
    populate_demo(platforms, time.time(), seed=seed)
    write_demo_registry(platforms, registry.parent / "demo-platforms.yaml", state_dir / "secrets")
    # computing the ground truth takes seconds at full scale: keep the loop free
    await asyncio.to_thread(sim.write_ground_truth, state_dir / "ground-truth.json")
    generate_key_file(state_dir / "pseudonym.key")
    creds = create_demo_users(state_dir)  # an inspector and a viewer, fresh passwords
    daemon = Daemon(write_demo_config(state_dir, registry))
    await daemon.start()
    base = f"http://127.0.0.1:{daemon.port}"
    sim_apps = f"http://127.0.0.1:{sim_port}/admin/apps"
    print(f"simulated fleet:  {sim_apps} ({len(sim.apps)} apps on usage API v1)", file=out)
    # APIs for the daemon, not pages: no URL a newcomer would open and find a 404
    print(
        f"platforms:        WeCom, DingTalk and official-account APIs simulated on "
        f"127.0.0.1:{platforms.port} (the daemon polls them)",
        file=out,
    )
    print(f"home:             {base}/", file=out)
    print(f"metrics:          {base}/metrics", file=out)
    print(f"apps:             {base}/apps (log in)", file=out)
    print(f"findings:         {base}/findings (log in)", file=out)
    print(f"collector state:  {base}/debug/apps", file=out)
    for user, pw in creds.items():
        print(f"login:            {user} / {pw}", file=out)
    print(f"state and config: {state_dir}", file=out)
    print(
        "In the table, the band says whether an app should exist (its shutdown score); the "
        "findings say how it is used: a kept app can have critical findings.",
        file=out,
        flush=True,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    t_end = time.monotonic() + duration if duration > 0 else float("inf")
    try:
        while not stop.is_set() and time.monotonic() < t_end:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(refresh, t_end - time.monotonic()))
            print(f"\n{time.strftime('%H:%M:%S')}\n{format_table(daemon)}", file=out, flush=True)
    finally:
        await daemon.stop()
        await sim.stop()
        await platforms.stop()
    return 0
