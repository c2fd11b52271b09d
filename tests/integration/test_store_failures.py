"""A store that stops taking writes, over real daemons: a state of its own, not the apps'
failure; one log line when it starts and one when it ends; /readyz 503 with the reason;
nothing fetched meanwhile is lost or counted twice. A damaged store at start: one line.

Real faults where the machine allows them (root): a full tmpfs, immutable store files
(`chattr +i`: SIGBUS before). `test_full_store_simulated` makes SQLite report a full disk
through `PRAGMA max_page_count` and runs everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tapwatch.daemon.auth import create_demo_users
from tapwatch.daemon.runtime import Daemon
from tapwatch.daemon.store_health import PROBE_INTERVAL_S
from tapwatch.store.sqlite import Store
from tests.integration.conftest import (
    app_entry,
    sample,
    scrape,
    stored_counts,
    wait_for,
    write_daemon_config,
)
from tests.integration.daemon_process import DaemonProcess
from tests.integration.fakeapps import FakeApp, FakeFleet
from tests.storefaults import (
    can_make_immutable,
    fill,
    immutable,
    set_immutable,
    small_filesystem,
    store_files,
)

FIRST, ALL = 400, 1200  # events served before the fault, and in all


def _checkpoint(db: Path) -> None:
    """Copy the write-ahead log into the database: the daemon's next write starts the log
    again, and first writes to the log's mapped index."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
    finally:
        conn.close()
    assert busy == 0


def _fleet() -> tuple[FakeFleet, FakeApp]:
    """One app serving FIRST events now; `_more(app)` serves the rest (all in the past)."""
    app = FakeApp("a", n_events=FIRST, start_ts=time.time() - ALL * 10 - 120)
    return FakeFleet([app], page_size=100), app


def _more(app: FakeApp) -> None:
    app.n_events = ALL
    app._cache = None


async def _readyz(port: int) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/readyz") as r:
        return r.status, await r.text()


async def _failing_state(port: int, reason: str, d: DaemonProcess | None = None) -> str:
    """Wait for the store to be reported failing; check what /metrics and /readyz say."""
    async def reported() -> bool:
        if d is not None and d.proc is not None and d.proc.returncode is not None:
            log = "\n".join(d.lines)
            raise AssertionError(f"the daemon died: exit {d.proc.returncode}\n{log}")
        return sample(await scrape(port), "tapwatch_store_healthy") == 0

    end = time.monotonic() + 30
    while not await reported():
        assert time.monotonic() < end, "the store was never reported failing"
        await asyncio.sleep(0.2)
    text = await scrape(port)
    assert sample(text, "tapwatch_store_fault", reason=reason) == 1
    others = [r for r in ("readonly", "full", "io", "corrupt", "locked") if r != reason]
    assert all(sample(text, "tapwatch_store_fault", reason=r) == 0 for r in others)
    assert (sample(text, "tapwatch_store_write_failures_total", reason=reason) or 0) >= 1
    # not the app's failure
    assert sample(text, "tapwatch_app_up", app="a") == 1
    assert sample(text, "tapwatch_app_scrape_errors_total", app="a", reason="internal") == 0
    status, body = await _readyz(port)
    assert status == 503
    return body


async def _recovered(port: int, db: Path) -> None:
    """Wait for the store to take writes again and every event to be stored exactly once."""
    async def healthy() -> bool:
        return sample(await scrape(port), "tapwatch_store_healthy") == 1

    end = time.monotonic() + 30
    while not await healthy():
        assert time.monotonic() < end, "the store never recovered"
        await asyncio.sleep(0.2)
    assert await _readyz(port) == (200, "ready\n")
    await wait_for(lambda: stored_counts(db)[0] >= ALL, timeout=30)
    assert stored_counts(db) == (ALL, ALL, ALL)


def _one_line_each_way(d: DaemonProcess, reason: str) -> None:
    failing = d.matching(f": {reason}: ")
    assert len(failing) == 1, d.lines
    assert "ERROR tapwatch.store" in failing[0]
    assert "Polls wait and resume from their last stored position: nothing is lost." in failing[0]
    assert len(d.matching("takes writes again")) == 1, d.lines
    assert d.matching("Traceback") == [], d.lines
    assert d.matching("internal error") == [], d.lines
    assert d.matching("polling failing") == [], d.lines  # no app was blamed


async def test_disk_full_is_a_store_state_and_loses_nothing(tmp_path: Path) -> None:
    fleet, app = _fleet()
    await fleet.start()
    try:
        with small_filesystem(tmp_path / "mnt", "8m") as mnt:
            cfg = write_daemon_config(
                tmp_path, [app_entry("a", fleet.url("a"))],
                extra={"store": {"path": str(mnt / "store.sqlite")}},
            )
            db = mnt / "store.sqlite"
            async with DaemonProcess(cfg) as d:
                await d.start()
                await wait_for(lambda: stored_counts(db)[0] == FIRST, timeout=30)
                ballast = fill(mnt)
                _more(app)  # the store cannot take these
                body = await _failing_state(d.port, "full", d)
                assert body.startswith(f"store {db}: full: database or disk is full")
                assert stored_counts(db)[0] == FIRST  # nothing of the failed polls was kept
                # longer than a probe interval: probes find no room, polls wait, quietly
                await asyncio.sleep(PROBE_INTERVAL_S + 2)
                status, body = await _readyz(d.port)
                assert status == 503 and "MiB free on its filesystem; writing resumes at" in body
                ballast.unlink()
                await _recovered(d.port, db)
                assert await d.stop() == 0
            _one_line_each_way(d, "full")
    finally:
        await fleet.stop()


async def test_immutable_store_at_runtime_is_readonly_not_sigbus(tmp_path: Path) -> None:
    if (why := can_make_immutable(tmp_path)) is not None:
        pytest.skip(why)
    fleet, app = _fleet()
    await fleet.start()
    creds = create_demo_users(tmp_path / "auth")
    server = {"listen": "127.0.0.1:0", "users_file": str(tmp_path / "auth/users.yaml")}
    cfg = write_daemon_config(tmp_path, [app_entry("a", fleet.url("a"))], detect_interval=0.5,
                              extra={"server": server})
    db = tmp_path / "store.sqlite"
    try:
        async with DaemonProcess(cfg) as d:
            await d.start()
            await wait_for(lambda: stored_counts(db)[0] == FIRST, timeout=30)
            _checkpoint(db)
            with immutable(store_files(db)):
                # written back, the index's mapped pages are clean: the next write to one
                # asks the filesystem, which refuses (SIGBUS before)
                os.sync()
                _more(app)
                body = await _failing_state(d.port, "readonly", d)
                assert "immutable or append-only (see lsattr)" in body
                await asyncio.sleep(3)  # polls, detector passes and probes meanwhile
                assert d.proc is not None and d.proc.returncode is None  # alive
                # an inspector's read is refused with the reason, not a 500
                login = {"Authorization": aiohttp.encode_basic_auth("viewer", creds["viewer"])}
                async with aiohttp.ClientSession(headers=login) as s, s.get(
                    f"http://127.0.0.1:{d.port}/api/v1/findings"
                ) as r:
                    assert r.status == 503
                    assert (await r.json())["error"] == body.rstrip("\n")
            await _recovered(d.port, db)
            assert await d.stop() == 0
        _one_line_each_way(d, "readonly")
    finally:
        set_immutable(store_files(db), False)
        await fleet.stop()


async def test_stopping_while_the_store_is_immutable_is_clean(tmp_path: Path) -> None:
    """Closing a store checkpoints its log, which writes to the mapped index: a daemon told
    to stop while its store refuses writes leaves the files as they are (SQLite recovers
    the log at the next start) and exits 0."""
    if (why := can_make_immutable(tmp_path)) is not None:
        pytest.skip(why)
    fleet, app = _fleet()
    await fleet.start()
    cfg = write_daemon_config(tmp_path, [app_entry("a", fleet.url("a"))])
    db = tmp_path / "store.sqlite"
    try:
        async with DaemonProcess(cfg) as d:
            await d.start()
            await wait_for(lambda: stored_counts(db)[0] == FIRST, timeout=30)
            with immutable(store_files(db)):
                os.sync()
                _more(app)
                await _failing_state(d.port, "readonly", d)
                assert await d.stop() == 0
        # the next start recovers the log and goes on from the last committed position
        async with DaemonProcess(cfg) as d2:
            await d2.start()
            await wait_for(lambda: stored_counts(db)[0] >= ALL, timeout=30)
            assert await d2.stop() == 0
        assert stored_counts(db) == (ALL, ALL, ALL)
    finally:
        set_immutable(store_files(db), False)
        await fleet.stop()


async def test_full_store_simulated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite's max_page_count makes it answer SQLITE_FULL as on a full disk (no root
    needed): the same state, in an in-process daemon."""
    caplog.set_level(logging.INFO, logger="tapwatch.store")
    fleet, app = _fleet()
    await fleet.start()
    d = Daemon(write_daemon_config(tmp_path, [app_entry("a", fleet.url("a"))]))
    await d.start()
    db = tmp_path / "store.sqlite"
    try:
        await wait_for(lambda: stored_counts(db)[0] == FIRST, timeout=30)

        def cap(extra_pages: int) -> None:
            conn = d.store.writer._db
            (pages,) = conn.execute("PRAGMA page_count").fetchone()
            conn.execute(f"PRAGMA max_page_count={pages + extra_pages}")

        await d.store.write(cap, 0)
        _more(app)
        await wait_for(lambda: not d.store.health.healthy, timeout=30)
        await d.render_metrics()
        body = await _failing_state(d.port, "full")
        assert body.startswith(f"store {db}: full: database or disk is full (SQLITE_FULL)")
        # the writer is not touched while the store fails: lift the cap on its thread
        d.store._wpool.submit(cap, 100_000).result()
        await wait_for(lambda: d.store.health.healthy, timeout=15)
        await d.render_metrics()
        await _recovered(d.port, db)
    finally:
        await d.stop()
        await fleet.stop()
    failing = [r for r in caplog.records if r.name == "tapwatch.store" and ": full: " in
               r.getMessage()]
    assert len(failing) == 1
    assert len([r for r in caplog.records if "takes writes again" in r.getMessage()]) == 1
    assert not [r for r in caplog.records if r.exc_info]  # no traceback
    assert d.states["a"].errors == {}  # the app was never blamed
    assert any(a.reason == "store" for a in d.states["a"].history)


# ---- a damaged store at start: one line, non-zero exit -----------------------------------


def _damaged(kind: str, db: Path) -> None:
    s = Store(db)
    s._db.execute("CREATE TABLE filler(x BLOB)")
    for _ in range(100):
        s._db.execute("INSERT INTO filler VALUES(randomblob(1000))")
    s.close()
    data = db.read_bytes()
    if kind == "random-header":
        db.write_bytes(os.urandom(100) + data[100:])
    else:
        db.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("random-header", "corrupt: not a SQLite database (its first bytes are not the SQLite "
                          "header: overwritten, or another file)"),
        ("truncated", "corrupt: truncated: "),
    ],
)
def test_damaged_store_at_start_is_one_line(kind: str, what: str, tmp_path: Path) -> None:
    cfg = write_daemon_config(tmp_path, [app_entry("a", "http://127.0.0.1:1/apps/a")])
    db = tmp_path / "store.sqlite"
    _damaged(kind, db)
    before = db.read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", "tapwatch", "run", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"tapwatch: store {db}: {what}")
    assert lines[0].endswith(
        "To do: restore the store from a backup, or move it aside (with its -wal and -shm "
        "files) to start with an empty one, where every app is read again from its start."
    )
    assert db.read_bytes() == before  # the damaged file is left as it was, for inspection


def test_immutable_store_at_start_is_one_line(tmp_path: Path) -> None:
    if (why := can_make_immutable(tmp_path)) is not None:
        pytest.skip(why)
    cfg = write_daemon_config(tmp_path, [app_entry("a", "http://127.0.0.1:1/apps/a")])
    db = tmp_path / "store.sqlite"
    Store(db).close()
    with immutable([db]):
        r = subprocess.run(
            [sys.executable, "-m", "tapwatch", "run", "--config", str(cfg)],
            capture_output=True, text=True, timeout=60,
        )
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"tapwatch: store {db}: readonly: store.sqlite is immutable or append-only (see "
        "lsattr). To do: make the store files and their directory writable by tapwatch "
        "(permissions, `chattr -i`, a read-only mount)."
    ]


async def test_sigterm_still_ends_a_daemon_whose_store_fails(tmp_path: Path) -> None:
    """The worker and the pollers waiting for the store do not hold the shutdown up."""
    fleet, app = _fleet()
    await fleet.start()
    try:
        with small_filesystem(tmp_path / "mnt", "8m") as mnt:
            cfg = write_daemon_config(
                tmp_path, [app_entry("a", fleet.url("a"))], detect_interval=0.5,
                extra={"store": {"path": str(mnt / "store.sqlite")}},
            )
            async with DaemonProcess(cfg) as d:
                await d.start()
                await wait_for(lambda: stored_counts(mnt / "store.sqlite")[0] == FIRST, timeout=30)
                fill(mnt)
                _more(app)
                await _failing_state(d.port, "full", d)
                assert d.proc is not None
                d.proc.send_signal(signal.SIGTERM)
                assert await d.exit_code(timeout=20) == 0
    finally:
        await fleet.stop()
