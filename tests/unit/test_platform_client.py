"""The shared platform client: the per-credential limiter, sharing across apps, and that
secrets and tokens never appear in a failure's detail."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tapwatch.sources.base import ErrorReason, SourceError
from tapwatch.sources.platform import (
    CredentialPool,
    RateLimiter,
    seconds_to_local_midnight,
)
from tests.fake_monotonic import Clock


async def test_limiter_holds_the_rate_after_a_burst() -> None:
    clock = Clock()
    lim = RateLimiter(20.0, burst=5, clock=clock, sleep=clock.sleep)
    t0 = clock()
    stamps = []
    for _ in range(25):
        await lim.acquire()
        stamps.append(clock() - t0)
    # 5 at once, then 20 more at 20/s, one every 50 ms: a second in all
    assert stamps[:5] == [0.0] * 5
    assert stamps[-1] == pytest.approx(1.0, abs=1e-6)
    gaps = [b - a for a, b in itertools.pairwise(stamps[4:])]
    assert gaps == pytest.approx([0.05] * 20, abs=1e-6)


async def test_apps_on_one_credential_share_one_limiter_at_the_lowest_rate() -> None:
    clock = Clock()
    pool = CredentialPool(clock=clock, sleep=clock.sleep)
    a = pool.credential(("wecom", "https://x", "corp"), 50.0)
    b = pool.credential(("wecom", "https://x", "corp"), 10.0)
    c = pool.credential(("wecom", "https://x", "other-corp"), 50.0)
    assert a is b and a is not c
    assert a.limiter.rate == 10.0

    done: list[float] = []

    async def calls(n: int) -> None:
        for _ in range(n):
            await a.limiter.acquire()
            done.append(clock.t)

    t0 = clock()
    await asyncio.gather(calls(15), calls(15))  # two apps, one budget
    assert len(done) == 30
    # a burst of 10 (the lower rate's), then the other 20 at 10/s: two seconds, not one
    assert clock() - t0 == pytest.approx(2.0, abs=1e-6)
    assert sum(1 for t in done if t == t0) == 10


async def test_a_long_block_fails_fast_with_the_remaining_time() -> None:
    clock = Clock()
    lim = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    lim.block(120)
    with pytest.raises(SourceError) as e:
        await lim.acquire()
    assert clock.slept == []  # failed without waiting
    assert e.value.reason is ErrorReason.rate_limited
    assert e.value.retry_after == pytest.approx(120.0)
    short = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    short.block(0.3)  # a short block is waited out
    t0 = clock()
    await short.acquire()
    assert clock() - t0 == pytest.approx(0.3, abs=1e-6)


def test_daily_quota_resets_at_midnight_china_time() -> None:
    # 2026-11-30 15:00 UTC is 23:00 in China: an hour to go
    assert seconds_to_local_midnight(1796050800.0) == pytest.approx(3600.0)
