"""Shared setup of the daemon benchmarks: the simulator in its own process, a daemon config
over its registry, process CPU and memory readings, and the figure lines the benchmarks print.

The simulator runs in a spawned child process so its CPU never counts as the daemon's; on a
machine with two or more cores the benchmark process and the simulator are pinned to
different cores (`pin_cores`), so the daemon's figures are those of one core.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import multiprocessing as mp
import os
import pstats
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

from tapwatch.fakeclock import install_from_env
from tapwatch.pseudonym import generate_key_file
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.simulator.fleet import local_day

# Under the test suite a benchmark runs at the suite's fixed instant, as the `tapwatch`
# processes it starts do (TAPWATCH_CLOCK_OFFSET_S; unset, the real clock): what the
# simulator serves, and what the detectors judge, must not depend on the hour of the run.
install_from_env()

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def figure(name: str, **values: Any) -> str:
    """One figure line, `name: key=value ...` (floats to 4 significant digits), printed."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    line = f"{name}: " + " ".join(f"{k}={fmt(v)}" for k, v in values.items())
    print(line, flush=True)
    return line


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))
    return s[k]


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB."""
    cur = peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def pin_cores(enabled: bool) -> tuple[int | None, int | None]:
    """Pin this process to one core and name another for the simulator. Returns (ours,
    simulator's), or (None, None) when pinning is off or there is one core."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    os.sched_setaffinity(0, {cores[0]})
    return cores[0], cores[1]


@dataclass
class Clock:
    """Wall and process CPU time (all threads of this process) between two readings."""

    wall0: float = 0.0
    cpu0: float = 0.0
    wall: float = 0.0
    cpu: float = 0.0

    def start(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def stop(self) -> Clock:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        return self


#: where a thread waits (the event loop for sockets, the store writer for work): idle time,
#: not cost, so left out of the hot spots and their percentages
_WAITS = (
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'get' of '_queue.SimpleQueue' objects>",
)


def hot_spots(profilers: Sequence[cProfile.Profile], top: int) -> None:
    """Print the top functions by own time over the profilers (one per thread), waits
    left out."""
    stats = pstats.Stats(profilers[0], stream=io.StringIO())
    for p in profilers[1:]:
        stats.add(p)
    table = stats.stats  # type: ignore[attr-defined]
    idle = sum(v[2] for k, v in table.items() if k[2] in _WAITS)
    busy = {k: v for k, v in table.items() if k[2] not in _WAITS}
    total = sum(v[2] for v in busy.values())
    figure("profile", busy_s=total, idle_s=idle)
    rows = sorted(busy.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (file, line, func), (_cc, ncalls, tt, ct, _callers) in rows:
        where = f"{Path(file).name}:{line}" if line else file
        figure(
            "hot",
            func=f"{func}@{where}",
            own_s=tt,
            own_pct=100 * tt / total,
            cum_s=ct,
            calls=ncalls,
        )


# ---- the simulator in a child process --------------------------------------------------


def _served_events(sim: Simulator) -> int:
    """Render every app-day of the history now (filling the simulator's cache, so serving
    is not slowed by generation) and count the events a client can fetch."""
    fleet = sim.fleet
    now = sim.now()
    today = local_day(now)
    n = 0
    for spec in sim.apps:
        for day in range(fleet.first_day, today + 1):
            rd = fleet.day(spec.id, day)
            n += sum(1 for t in rd.times if t <= now) if day == today else len(rd)
    return n


async def _serve(opts: SimulatorOptions, registry: Path, conn: Connection, warm: bool) -> None:
    sim = Simulator(opts)
    events = _served_events(sim) if warm else -1
    port = await sim.start("127.0.0.1", 0)
    sim.write_registry(registry)
    conn.send((port, len(sim.apps), events))
    with contextlib.suppress(EOFError):  # EOF: the benchmark went away, stop anyway
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await sim.stop()


def _simulator_main(
    opts: SimulatorOptions, registry: Path, conn: Connection, cpu: int | None, warm: bool
) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    asyncio.run(_serve(opts, registry, conn, warm))


class SimulatorProcess:
    """`tapwatch simulate` in a spawned child process, serving on a free 127.0.0.1 port and
    writing its app registry to `registry` (a YAML file in an apps_dir)."""

    def __init__(
        self, opts: SimulatorOptions, registry: Path, *, cpu: int | None, warm: bool
    ) -> None:
        self.opts = opts
        self.registry = registry
        self.cpu = cpu
        self.warm = warm
        self.port = 0
        self.apps = 0
        #: events the fleet serves in all (counted when warm, else -1)
        self.events = -1
        self._proc: Any = None
        self._conn: Connection | None = None

    def start(self, timeout: float = 600.0) -> SimulatorProcess:
        ctx = mp.get_context("spawn")
        self.registry.parent.mkdir(parents=True, exist_ok=True)
        ours, theirs = ctx.Pipe()
        self._proc = ctx.Process(
            target=_simulator_main,
            args=(self.opts, self.registry, theirs, self.cpu, self.warm),
            name="tapwatch-simulator",
            daemon=True,
        )
        self._proc.start()
        theirs.close()
        self._conn = ours
        if not ours.poll(timeout):
            self.stop()
            raise RuntimeError(f"the simulator did not start within {timeout:g}s")
        self.port, self.apps, self.events = ours.recv()
        return self

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self.pid)

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):  # the child is gone already
                self._conn.send("stop")
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)
            self._proc = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_daemon_config(
    tmp: Path,
    apps_dir: Path,
    *,
    collector: dict[str, Any] | None = None,
    detect: dict[str, Any] | None = None,
    store: dict[str, Any] | None = None,
) -> Path:
    """A daemon config in tmp: store and fresh key in tmp, the registry from apps_dir."""
    key = tmp / "pseudonym.key"
    generate_key_file(key)
    cfg: dict[str, Any] = {
        "server": {"listen": "127.0.0.1:0"},
        "store": {"path": str(tmp / "store.sqlite"), **(store or {})},
        "pseudonymisation": {"key_file": str(key)},
        "collector": {"max_response_bytes": "16MiB", **(collector or {})},
        "detect": {"interval": 60, **(detect or {})},
        "apps_dir": str(apps_dir),
    }
    path = tmp / "tapwatch.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
