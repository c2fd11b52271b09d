"""Password checks an attacker can turn neither into a denial of service nor into an oracle.

What the anchors do (exporter-toolkit, OWASP's advice on online guessing):

* **Correct credentials are never refused because of someone else's failures.** A
  password checked once is remembered (an HMAC under a per-process key of realm, user,
  hash and password, never the password) and passes at once afterwards: Prometheus's
  scrapes and a script's basic auth cost no bcrypt after the first.
* **Identical attempts share one check** (single flight): attempts with the same realm,
  user, hash and password that arrive while that check runs wait for it, under the same
  HMAC key, instead of queueing checks of their own: 200 scripts starting together with
  the same credentials cost one bcrypt, not 200 (and are not refused as a flood). Each
  still counts as its own success or failure for its (user, address) pair; if the check
  they waited for was refused or its client went away, they try in their own right.
* **bcrypt work is bounded**: one worker thread runs every check (at most one core), fed
  by a bounded queue ordered by suspicion: a check from a (user, address) pair and an
  address without recent failures goes first, so a real login overtakes a flood of
  guesses. A full queue sheds the most suspicious request (429 with Retry-After), never a
  cleaner one. An address that comes back before its Retry-After counts as suspicious: a
  script that floods falls behind a person who follows the page's "try again in N s".
* **Failures slow down their (user, address) pair**, not everyone (the address is the
  client's: behind a reverse proxy listed in `server.trusted_proxies`, the one the proxy
  names; tapwatch.daemon.forwarded): after
  `free_failures` failures within `window_s`, each further check of that pair waits an
  exponentially growing delay (capped) after the last failure. Checks of one pair run one
  at a time (parallel guesses queue up behind each other), and more than
  `max_waiting_per_key` waiting at once are refused (429), as are more than
  `max_pending_per_address` uncached checks from one address. A browser that logged in
  before carries a device cookie (tapwatch.daemon.auth): it is counted apart from its
  address, so guesses from the same address do not delay it, and its check goes before
  every check without one (OWASP's "device cookies" against online guessing).
* **Realms are separate**: failures on /metrics never slow the findings logins, and back.
* **The state is bounded** (`max_keys` pairs and as many addresses) and a flood of junk
  from many addresses cannot empty it: a full table forgets the pairs with the fewest
  recent failures first. A successful login resets only its own pair's failures.
* **Unknown users cost what known ones cost**: their password is checked against a dummy
  hash of the realm's usual cost, through the same queue and the same throttle, and they
  get the same answer. Passwords are cut to bcrypt's 72 bytes, as the tools that made
  the hashes (htpasswd, Go's bcrypt) cut them, so a long password is an ordinary check.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import bcrypt

#: bcrypt reads at most this many bytes of a password
MAX_PASSWORD_BYTES = 72
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class ThrottlePolicy:
    """How failed logins slow their (user, address) pair down; see the module docstring."""

    free_failures: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    window_s: float = 900.0
    max_waiting_per_key: int = 3
    max_pending_per_address: int = 8
    max_queue: int = 8  # 2-3 s of cost-12 checks: a login never waits longer
    max_keys: int = 10_000
    cache_size: int = 1024
    refusal_delay_s: float = 1.0

    def delay(self, failures: int) -> float:
        """Seconds a pair with this many recent failures waits after its last failure."""
        if failures < self.free_failures:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * 2 ** (failures - self.free_failures))


@dataclass(frozen=True)
class Verdict:
    """The outcome of one password check: `ok`, or refused without a check (`busy`, with
    the seconds to wait before trying again)."""

    ok: bool
    busy: bool = False
    retry_after: float = 0.0


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0


class FailureTable:
    """Recent failures per key, bounded: a full table forgets, among the least recently
    failed entries, the one with the fewest live failures (expired ones first)."""

    SAMPLE = 32

    def __init__(self, max_keys: int, window_s: float) -> None:
        self.max_keys = max_keys
        self.window_s = window_s
        self._entries: OrderedDict[object, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: object, now: float) -> _Failures:
        """The key's live failures (a zero entry if none or expired; not stored)."""
        f = self._entries.get(key)
        if f is None or now - f.last > self.window_s:
            return _Failures()
        return f

    def fail(self, key: object, now: float) -> _Failures:
        f = self.get(key, now)
        if key not in self._entries and len(self._entries) >= self.max_keys:
            self._evict(now)
        f = _Failures(f.count + 1, now)
        self._entries[key] = f
        self._entries.move_to_end(key)
        return f

    def reset(self, key: object) -> None:
        self._entries.pop(key, None)

    def _evict(self, now: float) -> None:
        oldest = itertools.islice(self._entries.items(), self.SAMPLE)
        victim, _ = min(
            oldest, key=lambda kv: 0 if now - kv[1].last > self.window_s else kv[1].count
        )
        del self._entries[victim]


@dataclass(slots=True)
class _PairQueue:
    """The checks of one (user, address) pair, run one at a time."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class PasswordChecker:
    """Checks passwords against bcrypt hashes under the policy of the module docstring.

    `realm` separates the web config's /metrics users from the users file's people."""

    def __init__(
        self,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        workers: int = 1,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = p = policy or ThrottlePolicy()
        self.clock = clock
        self._sleep = sleep
        self._cache_key = secrets.token_bytes(32)
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._pairs = FailureTable(p.max_keys, p.window_s)
        self._addresses = FailureTable(p.max_keys, p.window_s)
        self._pair_queues: dict[tuple[str, str, str], _PairQueue] = {}
        #: checks running, by attempt key: identical attempts wait for the same check
        self._flights: dict[bytes, asyncio.Future[bool | None]] = {}
        self._pending_by_address: Counter[tuple[str, str]] = Counter()
        self._not_before: OrderedDict[tuple[str, str], float] = OrderedDict()  # Retry-After
        self._dummies: dict[int, bytes] = {}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="bcrypt")
        self._workers = workers
        self._running = 0
        self._queue: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._seq = itertools.count()
        self.bcrypt_checks = 0  # run so far (cache misses)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- the check -----------------------------------------------------------------

    async def check(
        self,
        realm: str,
        name: str,
        password: str,
        stored_hash: str | None,
        *,
        address: str,
        device: str | None = None,
        dummy_cost: int = 12,
    ) -> Verdict:
        """Whether `password` matches `stored_hash` (None: an unknown user, checked
        against a dummy hash of `dummy_cost` all the same). `device` replaces the address
        in the pair's key for a browser that logged in before.

        A refusal (busy) is answered after `refusal_delay_s` (or its Retry-After if
        shorter): a script that retries at once then sends a request a second, not
        hundreds, and the event loop stays free for everyone else."""
        pw = password.encode("utf-8", "surrogatepass")[:MAX_PASSWORD_BYTES]
        attempt = self._attempt_key(realm, name, stored_hash, pw)
        if stored_hash is not None and attempt in self._ok:
            self._ok.move_to_end(attempt)
            return Verdict(True)
        now = self.clock()
        pair = (realm, _short(name), f"device:{device}" if device else address)
        addr = (realm, address)
        if device is None and now < self._not_before.get(addr, 0.0):
            # back before the Retry-After it was given: a script, not a person; it is
            # still checked if there is room, after everyone who waited as told
            self._addresses.fail(addr, now)
        while (flight := self._flights.get(attempt)) is not None:
            # the same name and password are being checked already: wait for that check
            matched = await asyncio.shield(flight)
            if matched is not None:
                return self._record(matched and stored_hash is not None, attempt, pair, addr,
                                    device)
            # that check was refused or cancelled: this attempt tries in its own right
        flight = self._flights[attempt] = asyncio.get_running_loop().create_future()
        matched = None
        try:
            matched, retry_after = await self._check_in_turn(
                pw, stored_hash, attempt, pair, addr, device, dummy_cost
            )
        finally:
            del self._flights[attempt]
            flight.set_result(matched)
        if matched is None:  # refused (out of the flight: identical attempts need not wait)
            return await self._refuse(addr, device, retry_after)
        return Verdict(matched and stored_hash is not None)

    async def _check_in_turn(
        self,
        pw: bytes,
        stored_hash: str | None,
        attempt: bytes,
        pair: tuple[str, str, str],
        addr: tuple[str, str],
        device: str | None,
        dummy_cost: int,
    ) -> tuple[bool | None, float]:
        """The bcrypt check in the pair's turn, recorded: (whether it matched, 0), or
        (None, seconds to come back after) if refused."""
        p, now = self.policy, self.clock()
        queue = self._pair_queues.get(pair)
        if queue is not None and queue.waiting >= p.max_waiting_per_key:
            return None, self._wait_of(pair, now) or 1.0
        if device is None and self._pending_by_address[addr] >= p.max_pending_per_address:
            return None, 1.0
        if queue is None:
            queue = self._pair_queues[pair] = _PairQueue()
        queue.waiting += 1
        if device is None:
            self._pending_by_address[addr] += 1
        try:
            async with queue.lock:  # one check at a time per pair
                wait = self._wait_of(pair, self.clock())
                if wait > 0:
                    await self._sleep(wait)
                now = self.clock()
                pair_failures = self._pairs.get(pair, now).count
                if device is not None and pair_failures < p.free_failures:
                    suspicion = -1  # a browser that logged in before goes first
                else:
                    suspicion = pair_failures
                    if device is None:
                        suspicion += self._addresses.get(addr, now).count
                target = stored_hash.encode() if stored_hash else self._dummy(dummy_cost)
                matched = await self._bcrypt(pw, target, suspicion)
                if matched is None:
                    return None, 1.0  # the queue shed it
                # recorded in the pair's turn: the pair's next check sees this outcome
                self._record(matched and stored_hash is not None, attempt, pair, addr, device)
                return matched, 0.0
        finally:
            queue.waiting -= 1
            if queue.waiting == 0:
                self._pair_queues.pop(pair, None)
            if device is None:
                self._pending_by_address[addr] -= 1
                if self._pending_by_address[addr] <= 0:
                    del self._pending_by_address[addr]

    def _record(
        self,
        ok: bool,
        attempt: bytes,
        pair: tuple[str, str, str],
        addr: tuple[str, str],
        device: str | None,
    ) -> Verdict:
        """Remember a success (and clear its pair's failures) or count a failure."""
        if ok:
            self._ok[attempt] = None
            self._ok.move_to_end(attempt)
            if len(self._ok) > self.policy.cache_size:
                self._ok.popitem(last=False)
            self._pairs.reset(pair)
            return Verdict(True)
        now = self.clock()
        self._pairs.fail(pair, now)
        if device is None:
            self._addresses.fail(addr, now)
        return Verdict(False)

    async def _refuse(
        self, addr: tuple[str, str], device: str | None, retry_after: float
    ) -> Verdict:
        """A 429 without a check, answered after the tarpit. The address is told when to
        come back; coming back sooner counts against it (a person follows the page's "try
        again in N s", a flooding script does not)."""
        tarpit = min(retry_after, self.policy.refusal_delay_s)
        if device is None:  # counted from when the answer goes out
            self._not_before[addr] = self.clock() + tarpit + retry_after
            self._not_before.move_to_end(addr)
            if len(self._not_before) > self.policy.max_keys:
                self._not_before.popitem(last=False)
        if tarpit > 0:
            await self._sleep(tarpit)
        return Verdict(False, busy=True, retry_after=retry_after)

    def _wait_of(self, pair: tuple[str, str, str], now: float) -> float:
        f = self._pairs.get(pair, now)
        return max(0.0, f.last + self.policy.delay(f.count) - now) if f.count else 0.0

    def _attempt_key(self, realm: str, name: str, stored: str | None, pw: bytes) -> bytes:
        """What identical attempts share (a remembered success, a check in flight): an
        HMAC under this process's key, never the password."""
        msg = b"\0".join(
            (realm.encode(), name.encode("utf-8", "surrogatepass"), (stored or "").encode())
        )
        return hmac.new(self._cache_key, msg + b"\0" + pw, hashlib.sha256).digest()

    def _dummy(self, cost: int) -> bytes:
        """A hash nobody's password matches, costing what a real one of `cost` costs."""
        d = self._dummies.get(cost)
        if d is None:
            tail = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(31))
            d = self._dummies[cost] = bcrypt.gensalt(cost) + tail.encode()
        return d

    # ---- bounded bcrypt --------------------------------------------------------------

    async def _bcrypt(self, pw: bytes, hashed: bytes, suspicion: int) -> bool | None:
        """bcrypt.checkpw on the worker; None if the queue shed this request."""
        if self._running >= self._workers or self._queue:
            granted = await self._enqueue(suspicion)
            if not granted:
                return None
        else:
            self._running += 1
        try:
            self.bcrypt_checks += 1
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self._pool, bcrypt.checkpw, pw, hashed)
            except ValueError:  # a hash bcrypt cannot read: no password matches it
                return False
        finally:
            self._release()

    async def _enqueue(self, suspicion: int) -> bool:
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = (suspicion, next(self._seq), fut)
        if len(self._queue) >= self.policy.max_queue:
            worst = max(self._queue)
            if worst[0] <= suspicion:
                return False  # everyone waiting is at least as clean: shed this one
            self._queue.remove(worst)
            heapq.heapify(self._queue)
            worst[2].set_result(False)
        heapq.heappush(self._queue, entry)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                self._release()  # the slot was handed over as we were cancelled
            elif entry in self._queue:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
            raise

    def _release(self) -> None:
        """Hand the worker slot to the cleanest waiting request, or free it."""
        while self._queue:
            _, _, fut = heapq.heappop(self._queue)
            if not fut.done():
                fut.set_result(True)
                return
        self._running -= 1


def _short(name: str) -> str:
    """A user name as a throttle key: bounded in size whatever a client sends."""
    if len(name) <= 64:
        return name
    return "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def usual_cost(hashes: Iterable[str]) -> int:
    """The most common bcrypt cost among `hashes` (12 if none): what an unknown user's
    dummy check costs, so that it takes as long as most real ones."""
    costs = Counter(int(h[4:6]) for h in hashes)
    if not costs:
        return 12
    top = max(costs.values())
    return max(c for c, n in costs.items() if n == top)

