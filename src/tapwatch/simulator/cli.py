"""`tapwatch simulate`: serve the simulated fleet until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

from tapwatch.simulator.faults import FaultMode
from tapwatch.simulator.fleet import SimulatorOptions
from tapwatch.simulator.server import Simulator


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tapwatch simulate",
        description="Serve simulated government work apps over usage API v1, with planted "
        "forced-usage patterns, optional faults and a ground-truth file.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--history-days", type=int, default=100)
    p.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="0: all history at once, then real time; S>0: replay history S times "
        "faster until real time is reached",
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiplies user counts")
    p.add_argument(
        "--extra-apps",
        type=int,
        default=0,
        help="generic load-test apps load-00001... (1 in 4 an empty shell)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="APP=MODE",
        help="fault mode for an app; unknown ids named fault-<mode> are added. "
        f"Modes: {', '.join(m.value for m in FaultMode)}",
    )
    p.add_argument("--registry-out", type=Path, help="write the daemon's app registry here")
    p.add_argument("--ground-truth-out", type=Path, help="write the ground truth JSON here")
    p.add_argument(
        "--token-file",
        type=Path,
        help="require this bearer token (created with a random token if missing)",
    )
    return p


def _token(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def options_from(args: argparse.Namespace) -> SimulatorOptions:
    faults: dict[str, str] = {}
    for item in args.fault:
        app, sep, mode = item.partition("=")
        if not sep or not app or not mode:
            raise ValueError(f"--fault {item!r}: expected APP=MODE")
        faults[app] = mode
    return SimulatorOptions(
        seed=args.seed,
        history_days=args.history_days,
        speed=args.speed,
        scale=args.scale,
        extra_apps=args.extra_apps,
        faults=faults,
        token=_token(args.token_file) if args.token_file else None,
    )


def banner(n_apps: int, host: str, port: int) -> str:
    """The first line `tapwatch simulate` prints, once it answers requests."""
    base = f"http://{host}:{port}"
    return (
        f"tapwatch simulate: {n_apps} apps on usage API v1 at {base}/apps/APP/v1/; "
        f"the list of apps: {base}/admin/apps"
    )


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(options_from(args))
    port = await sim.start(args.host, args.port)
    try:
        # serving now: say so before the slower files (the ground truth takes seconds)
        print(banner(len(sim.apps), args.host, port), flush=True)
        if args.registry_out:
            sim.write_registry(args.registry_out, args.token_file)
            print(f"registry written to {args.registry_out}", flush=True)
        if args.ground_truth_out:
            # Seconds at full scale: in a thread, so the server answers meanwhile.
            await asyncio.to_thread(sim.write_ground_truth, args.ground_truth_out)
            print(f"ground truth written to {args.ground_truth_out}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if args.ground_truth_out:  # again, with anything planted live
            await asyncio.to_thread(sim.write_ground_truth, args.ground_truth_out)
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tapwatch simulate`."""
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except (ValueError, OSError) as e:
        print(f"tapwatch simulate: {e}", file=sys.stderr)
        return 2
    return 0
