"""The shared platform client: the per-credential limiter, sharing across apps, and that
secrets and tokens never appear in a failure's detail."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from tapwatch.sources.base import ErrorReason, SourceError
from tapwatch.sources.platform import (
    CredentialPool,
    RateLimiter,
    seconds_to_local_midnight,
)


async def test_limiter_holds_the_rate_after_a_burst() -> None:
    lim = RateLimiter(20.0, burst=5)
    t0 = time.monotonic()
    stamps = []
    for _ in range(25):
        await lim.acquire()
        stamps.append(time.monotonic() - t0)
    # 5 at once, then 20 more at 20/s: about a second, never much faster
    assert stamps[4] < 0.3  # loose upper bounds: the machine may be busy
    assert 0.9 < stamps[-1] < 3.0
    gaps = [b - a for a, b in itertools.pairwise(stamps[5:])]
    assert min(gaps) > 0.03


async def test_apps_on_one_credential_share_one_limiter_at_the_lowest_rate() -> None:
    pool = CredentialPool()
    a = pool.credential(("wecom", "https://x", "corp"), 50.0)
    b = pool.credential(("wecom", "https://x", "corp"), 10.0)
    c = pool.credential(("wecom", "https://x", "other-corp"), 50.0)
    assert a is b and a is not c
    assert a.limiter.rate == 10.0

    async def calls(n: int) -> None:
        for _ in range(n):
            await a.limiter.acquire()

    t0 = time.monotonic()
    await asyncio.gather(calls(15), calls(15))  # two apps, one budget
    assert time.monotonic() - t0 > 1.8  # (30 - 10 burst) / 10 per second


async def test_a_long_block_fails_fast_with_the_remaining_time() -> None:
    lim = RateLimiter(10.0)
    lim.block(120)
    t0 = time.monotonic()
    with pytest.raises(SourceError) as e:
        await lim.acquire()
    assert time.monotonic() - t0 < 0.1
    assert e.value.reason is ErrorReason.rate_limited
    assert 119 < (e.value.retry_after or 0) <= 120
    short = RateLimiter(10.0)
    short.block(0.3)  # a short block is waited out
    t0 = time.monotonic()
    await short.acquire()
    assert time.monotonic() - t0 >= 0.25


def test_daily_quota_resets_at_midnight_china_time() -> None:
    # 2026-11-30 15:00 UTC is 23:00 in China: an hour to go
    assert seconds_to_local_midnight(1796050800.0) == pytest.approx(3600.0)
