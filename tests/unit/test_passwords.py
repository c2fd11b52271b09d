"""The password checker: long passwords, remembered successes, per-pair slow-down, bounded
and ordered bcrypt work, bounded state, constant cost for unknown users."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import bcrypt
import pytest

from tapwatch.daemon.passwords import (
    FailureTable,
    PasswordChecker,
    ThrottlePolicy,
    Verdict,
    usual_cost,
)
from tests.fake_monotonic import Clock

H = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
LONG_BASE = "p" * 72
H_LONG = bcrypt.hashpw(LONG_BASE.encode(), bcrypt.gensalt(4)).decode()  # as htpasswd makes it


def checker(clock: Clock | None = None, **policy: float) -> PasswordChecker:
    c = clock or Clock()
    return PasswordChecker(ThrottlePolicy(**policy), clock=c, sleep=c.sleep)  # type: ignore[arg-type]


async def test_passwords_past_72_bytes_are_ordinary_checks_for_known_and_unknown_users() -> None:
    pc = checker()
    long_wrong = "x" * 100
    known = await pc.check("r", "li", long_wrong, H, address="a")
    unknown = await pc.check("r", "nobody", long_wrong, None, address="a")
    assert known == unknown  # same answer: nobody learns who exists
    assert not known.ok and not known.busy
    assert pc._pairs.get(("r", "li", "a"), 1000).count == 1  # counted as a failure
    assert pc._pairs.get(("r", "nobody", "a"), 1000).count == 1
    assert pc.bcrypt_checks == 2  # the unknown user cost a (dummy) check too
    # a hash made over the first 72 bytes (htpasswd, Go) accepts the long password
    assert (await pc.check("r", "li", LONG_BASE + "tail" * 7, H_LONG, address="a")).ok


async def test_a_remembered_success_passes_at_once_whatever_the_failures() -> None:
    clock = Clock()
    pc = checker(clock)
    assert (await pc.check("r", "prom", "right", H, address="a")).ok
    for _ in range(12):  # someone guesses prom's password from prom's own address
        await pc.check("r", "prom", "guess", H, address="a")
    assert clock.slept  # the guesses were slowed down
    checks, slept = pc.bcrypt_checks, len(clock.slept)
    v = await pc.check("r", "prom", "right", H, address="a")
    assert v.ok and pc.bcrypt_checks == checks and len(clock.slept) == slept
    # the remembered entry is keyed by the hash too: a new hash needs a new check
    h2 = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
    assert (await pc.check("r", "prom", "right", h2, address="b")).ok
    assert pc.bcrypt_checks == checks + 1
    assert all(b"right" not in k for k in pc._ok)  # HMACs, never the password


async def test_failures_slow_their_pair_and_nothing_else() -> None:
    clock = Clock()
    pc = checker(clock, free_failures=3, base_delay_s=1, max_delay_s=4)
    for _ in range(3):
        await pc.check("metrics", "prom", "guess", H, address="10.0.0.9")
    assert clock.slept == []  # free failures
    for _ in range(4):
        await pc.check("metrics", "prom", "guess", H, address="10.0.0.9")
    assert clock.slept == [1, 2, 4, 4]  # doubling after the last failure, capped
    clock.slept.clear()
    await pc.check("metrics", "other", "guess", H, address="10.0.0.9")  # another user
    await pc.check("metrics", "prom", "guess", H, address="10.0.0.8")  # another address
    await pc.check("findings", "prom", "guess", H, address="10.0.0.9")  # another realm
    assert clock.slept == []
    # and the pair's right password still gets in, after the pair's delay
    v = await pc.check("metrics", "prom", "right", H, address="10.0.0.9")
    assert v.ok and clock.slept == [4]
    clock.slept.clear()
    await pc.check("metrics", "prom", "guess", H, address="10.0.0.9")
    assert clock.slept == []  # success reset the pair


async def test_the_slow_down_is_anchored_to_the_last_failure_and_forgotten_after_the_window(
) -> None:
    clock = Clock()
    pc = checker(clock, free_failures=1, base_delay_s=10, max_delay_s=10, window_s=900)
    await pc.check("r", "li", "guess", H, address="a")
    clock.t += 3  # a person who waits 3 s waits only the remaining 7
    await pc.check("r", "li", "guess", H, address="a")
    assert clock.slept == [7]
    clock.t += 901
    clock.slept.clear()
    await pc.check("r", "li", "guess", H, address="a")
    assert clock.slept == []


async def test_a_viewer_login_does_not_reset_the_inspector_pair() -> None:
    clock = Clock()
    pc = checker(clock, free_failures=2, base_delay_s=1)
    for _ in range(3):
        await pc.check("findings", "inspector", "guess", H, address="a")
    assert (await pc.check("findings", "viewer", "right", H, address="a")).ok
    clock.slept.clear()
    await pc.check("findings", "inspector", "guess", H, address="a")
    assert clock.slept == [2]


async def test_parallel_guesses_on_one_pair_run_one_at_a_time_and_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pc = PasswordChecker(ThrottlePolicy(max_waiting_per_key=3))
    running = peak = 0
    real = bcrypt.checkpw

    def slow(pw: bytes, h: bytes) -> bool:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        time.sleep(0.02)
        running -= 1
        return real(pw, h)

    monkeypatch.setattr(bcrypt, "checkpw", slow)
    verdicts = await asyncio.gather(
        *(pc.check("r", "li", f"g{i}", H, address="a") for i in range(10))
    )
    assert sum(v.busy for v in verdicts) == 7  # refused at once: 429, no bcrypt
    assert all(v.retry_after > 0 for v in verdicts if v.busy)
    assert sum(not v.ok and not v.busy for v in verdicts) == 3
    assert pc.bcrypt_checks == 3 and peak == 1


async def test_one_address_cannot_fill_the_queue() -> None:
    pc = PasswordChecker(ThrottlePolicy(max_pending_per_address=4))
    verdicts = await asyncio.gather(
        *(pc.check("r", f"user{i}", "g", H, address="a") for i in range(10))
    )
    assert sum(v.busy for v in verdicts) == 6
    other = await pc.check("r", "user0", "right", H, address="b")
    assert other.ok  # another address is not refused


async def test_a_clean_login_overtakes_a_flood_of_suspicious_guesses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pc = PasswordChecker(ThrottlePolicy(max_queue=64, max_pending_per_address=64))
    done: list[str] = []
    # every flooding address has failed before: its checks are suspicious
    for i in range(30):
        pc._addresses.fail(("r", f"10.0.1.{i}"), pc.clock())

    async def attempt(name: str, addr: str, password: str) -> None:
        await pc.check("r", name, password, H, address=addr)
        done.append(name)

    flood = [asyncio.create_task(attempt(f"guess{i}", f"10.0.1.{i}", "g")) for i in range(30)]
    await asyncio.sleep(0)  # the flood is queued (one runs, the rest wait)
    real = asyncio.create_task(attempt("inspector", "10.0.2.1", "right"))
    await asyncio.gather(real, *flood)
    assert done.index("inspector") <= 2  # behind at most what was already running


async def test_a_full_queue_sheds_the_most_suspicious() -> None:
    pc = PasswordChecker(ThrottlePolicy(max_queue=4, max_pending_per_address=64))
    for i in range(8):
        for _ in range(i + 1):  # address i has i+1 failures
            pc._addresses.fail(("r", f"10.0.0.{i}"), pc.clock())
    results = await asyncio.gather(
        *(pc.check("r", "u", f"g{i}", H, address=f"10.0.0.{i}") for i in range(8)),
        pc.check("r", "li", "right", H, address="10.9.9.9"),  # clean, arrives last
    )
    assert results[-1].ok  # never shed
    shed = [i for i, v in enumerate(results[:-1]) if v.busy]
    assert shed and min(shed) >= 3  # the cleanest waiting ones were kept


def test_junk_from_many_addresses_cannot_empty_the_table() -> None:
    t = FailureTable(max_keys=100, window_s=900)
    for _ in range(20):
        t.fail(("r", "inspector", "attacker"), 0)
    for i in range(10_000):
        t.fail(("r", "junk", f"10.{i // 256}.{i % 256}.1"), 1)
    assert len(t) == 100
    assert t.get(("r", "inspector", "attacker"), 2).count == 20
    # expired entries are forgotten first, whatever their count
    t.fail(("r", "x", "y"), 2000)
    assert t.get(("r", "inspector", "attacker"), 2000).count == 0


async def test_a_device_cookie_keeps_a_browser_apart_from_its_address() -> None:
    clock = Clock()
    pc = checker(clock, free_failures=1, base_delay_s=5, max_pending_per_address=2)
    for _ in range(3):
        await pc.check("findings", "inspector", "guess", H, address="proxy")
    clock.slept.clear()
    v = await pc.check("findings", "inspector", "right", H, address="proxy", device="dev1")
    assert v.ok and clock.slept == []


def test_usual_cost_is_the_most_common_one(tmp_path: Path) -> None:
    h = ["$2b$10$" + "a" * 53, "$2b$10$" + "b" * 53, "$2y$14$" + "c" * 53]
    assert usual_cost(h) == 10
    assert usual_cost([]) == 12
    assert usual_cost(h[:1] + h[2:]) == 14  # a tie: the dearer one
    pc = PasswordChecker()
    assert pc._dummy(11).startswith(b"$2b$11$") and len(pc._dummy(11)) == 60
    assert not bcrypt.checkpw(b"", pc._dummy(4))




async def test_a_flood_that_ignores_retry_after_falls_behind_a_person(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200 fresh attackers arrive at once with a person: all clean, the queue fills and
    sheds most of them and the person, each told to come back in a second. The attackers
    come back at once, again and again; the person after the second: first in line.
    (Without the Retry-After rule the person would be one of 201 equals.)"""
    clock = Clock()
    policy = ThrottlePolicy(max_queue=8, refusal_delay_s=0)  # no tarpit: the fake clock
    pc = PasswordChecker(policy, clock=clock, sleep=clock.sleep)  # would add them all up
    served: list[str] = []

    async def attempt(who: str, addr: str, password: str) -> Verdict:
        v = await pc.check("r", "li", password, H, address=addr)
        if not v.busy:
            served.append(who)
        return v

    attackers = [f"10.0.{i // 250}.{i % 250}" for i in range(200)]
    burst = await asyncio.gather(  # each its own guess (identical ones would share a check)
        *(attempt("attacker", a, f"g{a}") for a in attackers),
        attempt("person", "10.9.9.9", "right"),
    )
    assert burst[-1].busy and burst[-1].retry_after == 1.0  # shed, with most attackers
    assert sum(v.busy for v in burst) >= 150
    shed = [a for a, v in zip(attackers, burst, strict=False) if v.busy]
    for _ in range(3):  # the shed come back at once, again and again: noted each time
        clock.t += 0.05
        await asyncio.gather(*(attempt("attacker", a, f"g{a}") for a in shed))
    assert min(pc._addresses.get(("r", a), clock.t).count for a in shed) >= 3
    clock.t += 1.0  # the person waited as told (and so, now, may everyone)
    served.clear()
    flood = [asyncio.create_task(attempt("attacker", a, f"g{a}")) for a in attackers]
    await asyncio.sleep(0)
    person = asyncio.create_task(attempt("person", "10.9.9.9", "right"))
    await asyncio.gather(person, *flood)
    assert person.result().ok and served.index("person") <= 1


async def test_refusals_are_answered_slowly() -> None:
    """A refused script waits before its 429 instead of retrying hundreds of times a second
    (the tarpit); a check that is not refused does not wait."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the real wait, recorded
        slept.append(seconds)
        await asyncio.sleep(seconds)

    pc = PasswordChecker(
        ThrottlePolicy(max_pending_per_address=1, refusal_delay_s=0.2), sleep=sleep
    )
    verdicts = await asyncio.gather(
        *(pc.check("r", f"u{i}", "g", H, address="a") for i in range(3))
    )
    assert [v.busy for v in verdicts] == [False, True, True]
    assert slept == [0.2, 0.2]  # each refusal waited the tarpit
    assert not (await pc.check("r", "u9", "g", H, address="b")).busy
    assert slept == [0.2, 0.2]  # a check that is not refused never waits


def slow_bcrypt(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.05) -> list[bytes]:
    """bcrypt.checkpw taking `seconds` (so that attempts overlap); returns the passwords
    it was run with, in order."""
    real, ran = bcrypt.checkpw, []

    def slow(pw: bytes, h: bytes) -> bool:
        ran.append(pw)
        time.sleep(seconds)
        return real(pw, h)

    monkeypatch.setattr(bcrypt, "checkpw", slow)
    return ran


@pytest.mark.parametrize(
    ("password", "stored", "ok"),
    [("right", H, True), ("wrong", H, False), ("wrong", None, False)],
    ids=["right", "wrong", "unknown-user"],
)
async def test_concurrent_identical_attempts_share_one_check(
    monkeypatch: pytest.MonkeyPatch, password: str, stored: str | None, ok: bool
) -> None:
    """200 clients opening at once with the same name and password (a fleet of scripts
    after a restart, or after a password change) cost one bcrypt check, whoever they are,
    for a known or an unknown user alike; each is answered and each failure counted."""
    ran = slow_bcrypt(monkeypatch)
    pc = PasswordChecker()
    addresses = [f"10.0.{i // 100}.{i % 10}" for i in range(200)]  # 20 addresses, 10 each
    verdicts = await asyncio.gather(
        *(pc.check("r", "li", password, stored, address=a) for a in addresses)
    )
    assert pc.bcrypt_checks == 1 and len(ran) == 1
    assert all(v == Verdict(ok) for v in verdicts)  # none refused, none busy
    failures = sum(pc._pairs.get(("r", "li", a), pc.clock()).count for a in set(addresses))
    assert failures == (0 if ok else 200)
    assert pc._flights == {}  # nothing left behind
    if ok:  # and the next one is remembered
        assert (await pc.check("r", "li", password, stored, address="x")).ok
        assert pc.bcrypt_checks == 1


async def test_only_identical_attempts_share_a_check(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = slow_bcrypt(monkeypatch)
    pc = PasswordChecker()
    h2 = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
    await asyncio.gather(
        pc.check("r", "li", "right", H, address="a"),
        pc.check("r", "li", "right", H, address="b"),  # shares
        pc.check("r", "li", "other", H, address="c"),  # another password
        pc.check("r", "wang", "right", H, address="d"),  # another user
        pc.check("q", "li", "right", H, address="e"),  # another realm
        pc.check("r", "li", "right", h2, address="f"),  # another hash (a new users file)
    )
    assert pc.bcrypt_checks == 5 and len(ran) == 5
    assert all(b"right" not in k for k in pc._ok)  # keyed by HMAC, never the password


async def test_attempts_waiting_on_a_cancelled_check_are_checked_in_their_own_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_bcrypt(monkeypatch, 0.1)
    pc = PasswordChecker()
    first = asyncio.create_task(pc.check("r", "li", "right", H, address="a"))
    await asyncio.sleep(0.02)  # its check is running
    second = asyncio.create_task(pc.check("r", "li", "right", H, address="b"))
    await asyncio.sleep(0.02)  # waiting for the first one's check
    first.cancel()  # its client went away
    assert (await second).ok
    assert pc.bcrypt_checks == 2 and pc._flights == {}
