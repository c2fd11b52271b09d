from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import yaml

from tapwatch.pseudonym import generate_key_file
from tapwatch.simulator.platforms import PlatformFakes
from tests.integration.platform_util import Clock


def write_daemon_config(
    tmp: Path,
    apps: list[dict],
    *,
    detect_interval: float = 3600,
    extra: dict | None = None,
) -> Path:
    """A daemon config in tmp with a fresh key and the given registry entries."""
    key = tmp / "pseudonym.key"
    generate_key_file(key)
    cfg = {
        "server": {"listen": "127.0.0.1:0"},
        "store": {"path": str(tmp / "store.sqlite")},
        "pseudonymisation": {"key_file": str(key)},
        "collector": {
            "default_interval": "0.3s",
            "default_timeout": "1s",
            "max_backoff": "1s",
            "jitter": 0.1,
            "max_response_bytes": "1MiB",
        },
        "detect": {"interval": detect_interval},
        "apps": apps,
        **(extra or {}),
    }
    path = tmp / "tapwatch.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def app_entry(app_id: str, url: str, **kw: object) -> dict:
    entry = {
        "id": app_id,
        "name": f"App {app_id}",
        "owner": "Demo Unit",
        "region": "Demo District",
        "category": f"cat-{app_id}",
        "launched": "2024-01-01",
        "intended_users": 100,
        "source": {"kind": "usage_api", "url": url},
    }
    entry.update(kw)
    return entry


def stored_counts(db_path: Path) -> tuple[int, int, int]:
    """(distinct stored ids, raw events, ingested counter) straight from the store, through
    a read-only connection of the test's own (a daemon may be writing)."""
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


async def wait_for(pred: Callable[[], bool], timeout: float = 15.0, step: float = 0.05) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        return await r.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in exposition text, or None if absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, val = line.rpartition(" ")
        if head == (f"{name}{{{want}}}" if labels else name):
            return float(val)
        if labels and head.startswith(name + "{"):
            got = dict(
                kv.split("=", 1) for kv in head[len(name) + 1 : -1].split('",') if "=" in kv
            )
            got = {k: v.strip('"') for k, v in got.items()}
            if all(got.get(k) == v for k, v in labels.items()):
                return float(val)
    return None


# ---- platform adapters (WeCom, DingTalk, WeChat official accounts, JSON) ------------------


@pytest.fixture
def clock() -> Clock:
    """A wall clock the test can move, shared by an adapter and the fake platforms."""
    return Clock()


@pytest.fixture
async def fakes(clock: Clock) -> AsyncIterator[PlatformFakes]:
    """WeCom, DingTalk and WeChat as the documentation describes them, on a free port."""
    f = PlatformFakes(clock)
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
