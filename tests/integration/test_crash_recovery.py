"""`kill -9` the daemon during ingestion, restart it: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from tests.integration.conftest import app_entry, stored_counts, write_daemon_config
from tests.integration.fakeapps import FakeApp, FakeFleet

N_EVENTS = 12_000


async def _start(cfg: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tapwatch", "run", "--config", str(cfg), "--log-level", "warning",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def test_kill_9_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    fleet = FakeFleet([FakeApp("steady", n_events=N_EVENTS)], page_size=100)
    await fleet.start()
    cfg = write_daemon_config(tmp_path, [app_entry("steady", fleet.url("steady"))])
    db = tmp_path / "store.sqlite"
    kills = 0
    try:
        # kill at three points of the ingestion
        for target in (N_EVENTS // 5, N_EVENTS // 2, (N_EVENTS * 4) // 5):
            proc = await _start(cfg)
            for _ in range(600):
                await asyncio.sleep(0.02)
                if stored_counts(db)[0] >= target or proc.returncode is not None:
                    break
            assert proc.returncode is None, (await proc.stderr.read()).decode()
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            kills += 1
            ids, raw, cnt = stored_counts(db)
            assert ids == raw == cnt, (ids, raw, cnt)
        proc = await _start(cfg)
        for _ in range(1500):
            await asyncio.sleep(0.02)
            if stored_counts(db)[0] >= N_EVENTS:
                break
        await asyncio.sleep(1.0)  # further polls must add nothing
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    finally:
        await fleet.stop()
    assert kills == 3
    ids, raw, cnt = stored_counts(db)
    assert (ids, raw, cnt) == (N_EVENTS, N_EVENTS, N_EVENTS)
    dup = sqlite3.connect(db).execute(
        "SELECT COALESCE(SUM(value), 0) FROM counters WHERE name='rejected'"
    ).fetchone()[0]
    assert dup == 0  # no page was ever fetched twice past a committed cursor
