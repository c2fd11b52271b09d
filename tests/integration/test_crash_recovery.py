"""`kill -9` the daemon during ingestion, restart it: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from tests.integration.conftest import app_entry, write_daemon_config
from tests.integration.fakeapps import FakeApp, FakeFleet

N_EVENTS = 12_000


def _stored(db_path: Path) -> tuple[int, int, int]:
    """(distinct stored ids, raw events, ingested counter) straight from the store."""
    if not db_path.exists():
        return 0, 0, 0
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        ids = db.execute("SELECT COUNT(*) FROM event_ids").fetchone()[0]
        raw = db.execute("SELECT COALESCE(SUM(n), 0) FROM event_batches").fetchone()[0]
        cnt = db.execute(
            "SELECT COALESCE(SUM(value), 0) FROM counters WHERE name='ingested'"
        ).fetchone()[0]
        return ids, raw, int(cnt)
    except sqlite3.OperationalError:  # schema not created yet
        return 0, 0, 0
    finally:
        db.close()


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
                if _stored(db)[0] >= target or proc.returncode is not None:
                    break
            assert proc.returncode is None, (await proc.stderr.read()).decode()
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            kills += 1
            ids, raw, cnt = _stored(db)
            assert ids == raw == cnt, (ids, raw, cnt)
        proc = await _start(cfg)
        for _ in range(1500):
            await asyncio.sleep(0.02)
            if _stored(db)[0] >= N_EVENTS:
                break
        await asyncio.sleep(1.0)  # further polls must add nothing
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    finally:
        await fleet.stop()
    assert kills == 3
    ids, raw, cnt = _stored(db)
    assert (ids, raw, cnt) == (N_EVENTS, N_EVENTS, N_EVENTS)
    dup = sqlite3.connect(db).execute(
        "SELECT COALESCE(SUM(value), 0) FROM counters WHERE name='rejected'"
    ).fetchone()[0]
    assert dup == 0  # no page was ever fetched twice past a committed cursor
