"""Bounded HTTP requests with typed failures, shared by the HTTP-based sources."""

from __future__ import annotations

import re
import ssl
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from yarl import URL

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


def endpoint(base: str, path: str = "") -> URL:
    """`base` with `path` appended to its path; its query string (an upstream's `api_key`)
    is kept byte for byte, and request parameters are added after it."""
    parts = urlsplit(base)
    joined = urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + path if path else parts.path,
         parts.query, "")
    )
    # An ASCII URL is used exactly as written; otherwise yarl encodes what needs it.
    return URL(joined, encoded=joined.isascii())


def display_url(url: str | URL) -> str:
    """The URL for logs and the debug view: scheme, host, port and path only (user info
    and query strings can hold secrets)."""
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_URL_IN_TEXT = re.compile(r"(?i)\b(https?://)(?:[^\s/@'\"]*@)?([^\s?#'\"]*)[?#]?[^\s'\"]*")


def _scrub(text: str) -> str:
    """A client error's text with every URL cut to what display_url shows."""
    return _URL_IN_TEXT.sub(r"\1\2", text)


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
    url: str | URL,
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
    url: str | URL,
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

    Error details name the URL as display_url shows it: never user info or a query
    string (a registry URL's `?api_key=`, a credential passed in `params`). The body is
    read in chunks and abandoned past max_bytes, so a 50 MB answer costs at most max_bytes
    of memory. An empty `expect` accepts any content type (some platforms send JSON as
    text/plain)."""
    shown = display_url(url)
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
                raise SourceError(ErrorReason.auth, f"HTTP {resp.status} from {shown}")
            if resp.status in (429, 503):
                ra = _retry_after(resp.headers.get("Retry-After"))
                raise SourceError(
                    ErrorReason.rate_limited, f"HTTP {resp.status} from {shown}", retry_after=ra
                )
            if resp.status != 200:
                raise SourceError(ErrorReason.http_status, f"HTTP {resp.status} from {shown}")
            ctype = resp.content_type or ""
            if expect and ctype not in expect:
                raise SourceError(
                    ErrorReason.decode, f"content type {ctype!r} from {shown}, expected {expect[0]}"
                )
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise SourceError(
                    ErrorReason.too_large,
                    f"{resp.content_length} bytes from {shown} exceed the {max_bytes}-byte limit",
                )
            encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
            if resp.content_length is not None and encoding == "identity":
                # framed by its length, which is within the limit (and not compressed,
                # where the length would be that of the compressed bytes): one read,
                # not a loop over chunks and a copy of their sum
                return await resp.read()
            buf = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                buf += chunk
                if len(buf) > max_bytes:
                    raise SourceError(
                        ErrorReason.too_large,
                        f"body from {shown} exceeds the {max_bytes}-byte limit",
                    )
            return bytes(buf)
    except SourceError:
        raise
    except TimeoutError:
        msg = f"no answer from {shown} within {timeout:g}s"
        raise SourceError(ErrorReason.timeout, msg) from None
    except aiohttp.ClientConnectorError as e:
        raise SourceError(ErrorReason.connect, f"cannot connect to {shown}: {e.os_error}") from None
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as e:
        msg = f"connection to {shown} broke: {_scrub(str(e))}"
        raise SourceError(ErrorReason.connect, msg) from None
    except aiohttp.ClientError as e:
        msg = f"{type(e).__name__} from {shown}: {_scrub(str(e))}"
        raise SourceError(ErrorReason.connect, msg) from None
