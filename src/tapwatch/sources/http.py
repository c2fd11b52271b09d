"""Bounded HTTP requests with typed failures, shared by the HTTP-based sources."""

from __future__ import annotations

import ssl
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp

from tapwatch.config import AuthConfig
from tapwatch.sources.base import ErrorReason, SourceError


def ssl_context(ca_file: Path | None, insecure_skip_verify: bool) -> ssl.SSLContext | bool:
    """TLS verification is on by default; a private CA can be given."""
    if insecure_skip_verify:
        return False
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(ca_file))


def auth_headers(auth: AuthConfig | None) -> dict[str, str]:
    """The Authorization header of a source's `auth`, read now (an auth failure if the
    secret cannot be read)."""
    if auth is None:
        return {}
    try:
        return auth.headers()
    except (OSError, ValueError) as e:
        raise SourceError(ErrorReason.auth, f"cannot read credentials: {e}") from None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


async def get_bytes(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    ssl_ctx: ssl.SSLContext | bool = True,
    expect: tuple[str, ...] = ("application/json",),
) -> bytes:
    """GET url and return the body, or raise SourceError with a typed reason."""
    return await request_bytes(
        session, "GET", url, timeout=timeout, max_bytes=max_bytes, headers=headers,
        params=params, ssl_ctx=ssl_ctx, expect=expect,
    )


async def request_bytes(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    ssl_ctx: ssl.SSLContext | bool = True,
    expect: tuple[str, ...] = ("application/json",),
) -> bytes:
    """Send a request and return the body, or raise SourceError with a typed reason.

    `url` must not carry a query string: parameters go in `params`, so that error details
    (which name the URL) never show a credential passed as a parameter. The body is read
    in chunks and abandoned past max_bytes, so a 50 MB answer costs at most max_bytes of
    memory. An empty `expect` accepts any content type (some platforms send JSON as
    text/plain)."""
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            params=params,
            data=body,
            ssl=ssl_ctx,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as resp:
            if resp.status in (401, 403):
                raise SourceError(ErrorReason.auth, f"HTTP {resp.status} from {url}")
            if resp.status in (429, 503):
                ra = _retry_after(resp.headers.get("Retry-After"))
                raise SourceError(
                    ErrorReason.rate_limited, f"HTTP {resp.status} from {url}", retry_after=ra
                )
            if resp.status != 200:
                raise SourceError(ErrorReason.http_status, f"HTTP {resp.status} from {url}")
            ctype = resp.content_type or ""
            if expect and ctype not in expect:
                raise SourceError(
                    ErrorReason.decode, f"content type {ctype!r} from {url}, expected {expect[0]}"
                )
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise SourceError(
                    ErrorReason.too_large,
                    f"{resp.content_length} bytes from {url} exceed the {max_bytes}-byte limit",
                )
            buf = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                buf += chunk
                if len(buf) > max_bytes:
                    raise SourceError(
                        ErrorReason.too_large,
                        f"body from {url} exceeds the {max_bytes}-byte limit",
                    )
            return bytes(buf)
    except SourceError:
        raise
    except TimeoutError:
        msg = f"no answer from {url} within {timeout:g}s"
        raise SourceError(ErrorReason.timeout, msg) from None
    except aiohttp.ClientConnectorError as e:
        raise SourceError(ErrorReason.connect, f"cannot connect to {url}: {e.os_error}") from None
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as e:
        raise SourceError(ErrorReason.connect, f"connection to {url} broke: {e}") from None
    except aiohttp.ClientError as e:
        raise SourceError(ErrorReason.connect, f"{type(e).__name__} from {url}: {e}") from None
