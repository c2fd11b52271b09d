"""The detector worker process and multiprocessing's resource tracker live exactly as long
as the daemon: a `kill -9` of the daemon leaves none behind, and a worker that dies is
replaced by the next detector pass."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from tests.integration.conftest import app_entry, sample, scrape, wait_for, write_daemon_config
from tests.integration.daemon_process import DaemonProcess, children, running
from tests.integration.fakeapps import FakeApp, FakeFleet

WORKER = "multiprocessing.spawn"
TRACKER = "multiprocessing.resource_tracker"


def _child(pid: int, marker: str) -> int | None:
    return next((c for c, cmd in children(pid).items() if marker in cmd), None)


async def _worker_of(d: DaemonProcess) -> tuple[int, int]:
    """Start the daemon and wait for its worker: (worker pid, resource tracker pid)."""
    await d.start()
    await wait_for(lambda: _child(d.pid, WORKER) is not None and _child(d.pid, TRACKER)
                   is not None, timeout=30)
    worker, tracker = _child(d.pid, WORKER), _child(d.pid, TRACKER)
    assert worker is not None and tracker is not None
    return worker, tracker


def _config(tmp_path: Path, fleet: FakeFleet) -> Path:
    """Detector passes every half second, in the worker process."""
    return write_daemon_config(tmp_path, [app_entry("a", fleet.url("a"))], detect_interval=0.5)


async def test_kill_9_of_the_daemon_leaves_no_process_behind(tmp_path: Path) -> None:
    fleet = FakeFleet([FakeApp("a", n_events=200)])
    await fleet.start()
    left: tuple[int, ...] = ()
    try:
        async with DaemonProcess(_config(tmp_path, fleet)) as d:
            left = await _worker_of(d)
            os.kill(d.pid, signal.SIGKILL)
            assert await d.exit_code() == -signal.SIGKILL
        # within a few seconds, both are gone
        await wait_for(lambda: not any(running(p) for p in left), timeout=5)
    finally:
        await fleet.stop()
        for pid in left:  # what a failure of this test would leave behind
            if running(pid):
                os.kill(pid, signal.SIGKILL)


async def test_a_dead_worker_is_replaced_and_detection_goes_on(tmp_path: Path) -> None:
    fleet = FakeFleet([FakeApp("a", n_events=200)])
    await fleet.start()
    try:
        async with DaemonProcess(_config(tmp_path, fleet)) as d:
            worker, _ = await _worker_of(d)
            os.kill(worker, signal.SIGKILL)
            await d.wait_for_line("the detector worker process died")
            await wait_for(lambda: _child(d.pid, WORKER) not in (None, worker), timeout=15)
            finished: list[float] = []

            async def passes() -> int:
                """Distinct detector pass ends seen on /metrics so far."""
                t = sample(await scrape(d.port), "tapwatch_detect_last_run_timestamp_seconds")
                if t is not None and t not in finished:
                    finished.append(t)
                return len(finished)

            end = time.monotonic() + 20
            while await passes() < 3 and time.monotonic() < end:
                await asyncio.sleep(0.3)
            assert len(finished) >= 3, finished  # passes go on, on the new worker
            assert d.matching("Traceback") == []
            assert await d.stop() == 0
    finally:
        await fleet.stop()
    assert len(d.matching("the detector worker process died")) == 1
