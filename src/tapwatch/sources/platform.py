"""What the platform adapters (WeCom, DingTalk, WeChat official accounts) share: access
tokens, a call-rate limiter per credential, and the mapping of platform errcodes onto the
collector's typed failure reasons.

- A credential (corp id, app key or app id, at one base URL) is shared by every app that
  names it: one cached token and one limiter for all of them, so ten registry entries on
  one corp never call `gettoken` ten times nor exceed the corp's call-frequency limit.
- A token is cached until shortly before its `expires_in`; an expired/invalid-token
  errcode drops it, fetches a new one at once and repeats the call once.
- A rate-limit errcode blocks the credential for the platform's documented penalty and
  fails the poll as `rate_limited` with that Retry-After; the other apps on the same
  credential fail fast without calling the platform meanwhile.
- Secrets are read from their file at each token fetch (rotation needs no restart) and
  they, and tokens, are scrubbed from every failure detail: they never reach logs,
  /metrics or /debug. Platform `errmsg` texts are not passed on either (they can echo
  request values such as user ids); the errcode and its documented meaning are.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from tapwatch.sources.base import ErrorReason, PollContext, SourceError
from tapwatch.sources.http import request_bytes, ssl_context

T = TypeVar("T")
#: A token is refreshed this long before the platform says it expires (at most a quarter
#: of its lifetime): WeChat hands out the next token 5 minutes before the old one ends.
TOKEN_MARGIN_S = 300.0
#: A blocked credential makes callers wait up to this long; a longer block fails the poll
#: as rate_limited with the remaining time as Retry-After.
MAX_LIMITER_WAIT_S = 5.0

_json = msgspec.json.Decoder()
_enc = msgspec.json.Encoder()


@dataclass(frozen=True)
class Errcodes:
    """How one platform's errcodes map onto failure reasons (from its published lists)."""

    platform: str
    #: the token is expired or invalid: fetch a new one and repeat the call once
    token_invalid: frozenset[int]
    #: call-frequency limits: errcode -> seconds the platform blocks (None: until the
    #: next local midnight, for daily quotas)
    rate_limited: Mapping[int, float | None]
    #: credentials or permissions wrong: needs a person, not a retry
    auth: frozenset[int]
    #: documented meaning of the codes above and a few others, for failure details
    meaning: Mapping[int, str] = field(default_factory=dict)
    #: errcodes that wrap the real one in `sub_code` (DingTalk's 88 "鉴权异常")
    wrapped: frozenset[int] = frozenset()


class RateLimiter:
    """Token bucket: `rate` calls a second on average, bursts of up to `burst`; `block`
    stops every call until a time (a platform's rate-limit penalty)."""

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep  # waits on `clock`'s time line (a fake one in tests)
        self._last = clock()
        self._blocked_until = 0.0
        self._lock: asyncio.Lock | None = None

    def lower(self, rate: float) -> None:
        """Apps sharing a credential may configure different rates: the lowest wins."""
        if rate < self.rate:
            self.rate = rate
            self.burst = min(self.burst, max(1.0, rate))
            self._tokens = min(self._tokens, self.burst)

    def block(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def blocked_for(self) -> float:
        return max(0.0, self._blocked_until - self._clock())

    async def acquire(self) -> None:
        """Wait for a call slot (or fail as rate_limited if blocked for long)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # callers are served in turn
            while True:
                blocked = self.blocked_for()
                if blocked > MAX_LIMITER_WAIT_S:
                    raise SourceError(
                        ErrorReason.rate_limited,
                        f"credential blocked by the platform for {blocked:.0f}s more",
                        retry_after=blocked,
                    )
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if blocked <= 0 and self._tokens >= 1.0 - 1e-9:  # float refills land a hair short
                    self._tokens -= 1.0
                    return
                wait = max(blocked, (1.0 - self._tokens) / self.rate)
                await self._sleep(wait)


@dataclass
class Token:
    value: str
    expires_at: float  # wall-clock epoch seconds (the platform's expires_in counts there)
    secret_digest: str  # the secret it was issued for: a rotated secret drops it


@dataclass
class Credential:
    """State shared by every app naming one platform credential."""

    key: tuple[str, ...]
    limiter: RateLimiter
    token: Token | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    token_fetches: int = 0  # how many tokens were fetched (debug and tests)


class CredentialPool:
    """The daemon's credentials, kept across reloads (tokens survive a reload)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._creds: dict[tuple[str, ...], Credential] = {}
        self._clock = clock
        self._sleep = sleep

    def credential(self, key: tuple[str, ...], rate: float) -> Credential:
        c = self._creds.get(key)
        if c is None:
            c = self._creds[key] = Credential(
                key, RateLimiter(rate, clock=self._clock, sleep=self._sleep))
        else:
            c.limiter.lower(rate)
        return c


def read_secret(path: Path, key: str) -> str:
    """The secret in a file (stripped), or an auth failure naming the key, never the value."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or type(e).__name__
        raise SourceError(ErrorReason.auth, f"cannot read {key} {str(path)!r}: {why}") from None
    if not value:
        raise SourceError(ErrorReason.auth, f"{key} {str(path)!r} is empty")
    return value


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


TokenFetcher = Callable[[PollContext, "PlatformApi"], Awaitable[tuple[str, float]]]


class PlatformApi:
    """Calls one platform for one source: token handling, limiter, errcodes, scrubbing."""

    def __init__(
        self,
        *,
        base_url: str,
        credential: Credential,
        errcodes: Errcodes,
        fetch_token: TokenFetcher,
        ssl_ctx: Any = True,
        secret_file: Path,
        secret_key: str,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.credential = credential
        self.errcodes = errcodes
        self._fetch_token = fetch_token
        self._ssl = ssl_ctx
        self.secret_file = secret_file
        self.secret_key = secret_key
        self._scrub: list[str] = []

    # ---- secrets and tokens ----------------------------------------------------------

    def secret(self) -> str:
        """The secret, read now; remembered only to be scrubbed from failure details."""
        value = read_secret(self.secret_file, self.secret_key)
        if value not in self._scrub:
            self._scrub.append(value)
        return value

    async def token(self, ctx: PollContext) -> str:
        """A valid access token: the cached one, or a new one."""
        cred = self.credential
        async with cred.lock:  # one fetch at a time per credential
            secret_digest = digest(self.secret())
            t = cred.token
            if (
                t is not None
                and t.secret_digest == secret_digest
                and ctx.now() < t.expires_at
            ):
                self._remember(t.value)
                return t.value
            value, expires_in = await self._fetch_token(ctx, self)
            if not value:
                raise SourceError(ErrorReason.schema, f"{self.errcodes.platform}: empty token")
            margin = min(TOKEN_MARGIN_S, max(0.0, expires_in) / 4.0)
            cred.token = Token(value, ctx.now() + max(0.0, expires_in) - margin, secret_digest)
            cred.token_fetches += 1
            self._remember(value)
            return value

    def _remember(self, token: str) -> None:
        if token not in self._scrub:
            self._scrub.append(token)
            del self._scrub[:-8]  # old tokens and secrets: a short memory is enough

    def _drop_token(self, value: str) -> None:
        t = self.credential.token
        if t is not None and t.value == value:  # another app may have refreshed it already
            self.credential.token = None

    # ---- calls -----------------------------------------------------------------------

    async def call(
        self,
        ctx: PollContext,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        with_token: bool = True,
    ) -> dict[str, Any]:
        """One platform call: a decoded JSON object whose errcode is 0 (or absent)."""
        try:
            for attempt in range(2):
                q = dict(params or {})
                token = None
                if with_token:
                    token = await self.token(ctx)
                    q["access_token"] = token
                doc = await self._send(ctx, method, path, q, body)
                code = _errcode(doc, self.errcodes, path)
                if code == 0:
                    return doc
                if code in self.errcodes.token_invalid and token is not None and attempt == 0:
                    self._drop_token(token)  # expired early: a new one, and once more
                    continue
                raise self._failure(ctx, path, code)
            raise AssertionError("unreachable")
        except SourceError as e:
            raise SourceError(e.reason, self.scrub(e.detail), e.retry_after) from None

    async def _send(
        self, ctx: PollContext, method: str, path: str, params: dict[str, str], body: Any
    ) -> dict[str, Any]:
        assert ctx.session is not None
        await self.credential.limiter.acquire()
        raw = await request_bytes(
            ctx.session,
            method,
            self.base + path,
            timeout=ctx.timeout,
            max_bytes=ctx.max_response_bytes,
            params=params,
            body=None if body is None else _enc.encode(body),
            headers={"Content-Type": "application/json"} if body is not None else None,
            ssl_ctx=self._ssl,
            expect=(),  # JSON arrives as application/json or text/plain
        )
        try:
            doc = _json.decode(raw)
        except msgspec.DecodeError:
            raise SourceError(
                ErrorReason.decode, f"{self.errcodes.platform} {path}: not JSON"
            ) from None
        if not isinstance(doc, dict):
            raise SourceError(
                ErrorReason.schema, f"{self.errcodes.platform} {path}: not a JSON object"
            )
        return doc

    def _failure(self, ctx: PollContext, path: str, code: int) -> SourceError:
        e = self.errcodes
        meaning = e.meaning.get(code, "see the platform's error code list")
        detail = f"{e.platform} {path}: errcode {code} ({meaning})"
        if code in e.rate_limited:
            wait = e.rate_limited[code]
            if wait is None:
                wait = seconds_to_local_midnight(ctx.now())
            self.credential.limiter.block(wait)
            return SourceError(ErrorReason.rate_limited, detail, retry_after=wait)
        if code in e.auth or code in e.token_invalid:
            return SourceError(ErrorReason.auth, detail)
        return SourceError(ErrorReason.http_status, detail)

    def scrub(self, text: str) -> str:
        """`text` with every secret and token this source has seen replaced."""
        for s in self._scrub:
            if s:
                text = text.replace(s, "<redacted>")
        return text


def connect(
    cfg: Any,
    *,
    ident: str,
    errcodes: Errcodes,
    fetch_token: TokenFetcher,
    credentials: CredentialPool,
    secret_file: Path,
    secret_key: str,
) -> PlatformApi:
    """A source's client for its platform credential (`ident`: corp id, app key or app
    id) at `cfg.base_url`, sharing the credential's token and limiter with every other
    source naming it in `credentials`."""
    cred = credentials.credential(
        (errcodes.platform, cfg.base_url.rstrip("/"), ident), cfg.max_requests_per_second
    )
    return PlatformApi(
        base_url=cfg.base_url,
        credential=cred,
        errcodes=errcodes,
        fetch_token=fetch_token,
        ssl_ctx=ssl_context(cfg.tls.ca_file, cfg.tls.insecure_skip_verify),
        secret_file=secret_file,
        secret_key=secret_key,
    )


def decode_as(doc: Any, type_: type[T], platform: str, path: str) -> T:
    """A decoded JSON document as a typed record (numbers sent as strings are accepted),
    or a schema failure naming the field, never its value."""
    try:
        return msgspec.convert(doc, type_, strict=False)
    except msgspec.ValidationError as e:
        raise SourceError(ErrorReason.schema, f"{platform} {path}: {e}") from None


def _errcode(doc: dict[str, Any], errcodes: Errcodes, path: str) -> int:
    code = _int_code(doc.get("errcode", 0))
    if code is None:
        raise SourceError(
            ErrorReason.schema, f"{errcodes.platform} {path}: errcode is not a number"
        )
    if code in errcodes.wrapped:
        sub = _int_code(doc.get("sub_code"))
        if sub is not None and sub != 0:
            return sub
    return code


def _int_code(v: Any) -> int | None:
    if isinstance(v, str) and v.lstrip("-").isdigit():
        return int(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return None


#: China Standard Time (UTC+8, no DST): the platforms' dates and daily quota resets
CST_OFFSET_S = 8 * 3600
CST = timezone(timedelta(seconds=CST_OFFSET_S))


def seconds_to_local_midnight(now: float) -> float:
    """Seconds until the next midnight in China Standard Time (daily quotas reset then)."""
    local = now + CST_OFFSET_S
    return 86400.0 - (local % 86400.0)
