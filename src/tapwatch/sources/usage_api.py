"""Usage API v1 source: `GET {base}/v1/usage` snapshot and cursor-paged `GET {base}/v1/events`.

Each page becomes one batch, committed with the page's `next_cursor` in one transaction,
so a crash between pages re-fetches at most one page (and de-duplication drops it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import msgspec

from tapwatch.config import UsageApiSourceConfig
from tapwatch.detectors.base import UsageSnapshot
from tapwatch.events import decode_page
from tapwatch.sources.base import ErrorReason, EventNormaliser, PollContext, SourceError
from tapwatch.sources.http import auth_headers, endpoint, get_bytes, ssl_context
from tapwatch.store.sqlite import IngestBatch


class _UsageBody(msgspec.Struct):
    registered_accounts: int | None = None
    active_accounts_1d: int | None = None
    active_accounts_7d: int | None = None
    active_accounts_30d: int | None = None
    last_release_at: str | float | None = None
    last_content_update_at: str | float | None = None
    features: list[str] = []


_usage_decoder = msgspec.json.Decoder(_UsageBody)


def _time(v: str | float | None) -> float | None:
    if v is None or isinstance(v, int | float):
        return v
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise SourceError(ErrorReason.schema, f"time {v[:40]!r} is not RFC 3339") from None
    return dt.timestamp() if dt.tzinfo else None


def parse_usage(body: bytes, at: float) -> UsageSnapshot:
    """Decode a `/v1/usage` body into a snapshot (SourceError on a bad body)."""
    try:
        u = _usage_decoder.decode(body)
    except msgspec.ValidationError as e:
        raise SourceError(ErrorReason.schema, f"/v1/usage: {e}") from None
    except msgspec.DecodeError as e:
        raise SourceError(ErrorReason.decode, f"/v1/usage: {e}") from None
    return UsageSnapshot(
        at=at,
        registered_accounts=u.registered_accounts,
        active_accounts_1d=u.active_accounts_1d,
        active_accounts_7d=u.active_accounts_7d,
        active_accounts_30d=u.active_accounts_30d,
        last_release_at=_time(u.last_release_at),
        last_content_update_at=_time(u.last_content_update_at),
        features=frozenset(u.features),
    )


class UsageApiSource:
    def __init__(self, cfg: UsageApiSourceConfig) -> None:
        self.cfg = cfg
        self.base = cfg.url
        self._ssl = ssl_context(cfg.tls.ca_file, cfg.tls.insecure_skip_verify)

    async def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]:
        assert ctx.session is not None
        session, headers = ctx.session, auth_headers(self.cfg.auth)

        async def get(path: str, params: dict[str, str] | None = None) -> bytes:
            return await get_bytes(
                session,
                endpoint(self.base, path),
                timeout=ctx.timeout,
                max_bytes=ctx.max_response_bytes,
                headers=headers,
                params=params,
                ssl_ctx=self._ssl,
            )

        snapshot: UsageSnapshot | None = parse_usage(await get("/v1/usage"), ctx.now())
        cursor = ctx.cursor
        norm = EventNormaliser(
            ctx.app_id, ctx.pseudonymizer, ctx.now(), ctx.max_clock_skew, ctx.oldest_accepted
        )
        ctx.backlog = True  # until a page says it is the last
        for _ in range(self.cfg.max_pages_per_cycle):
            params = {"limit": str(self.cfg.page_limit)}
            if cursor:
                params["cursor"] = cursor
            try:
                page = decode_page(await get("/v1/events", params))
            except msgspec.ValidationError as e:
                raise SourceError(ErrorReason.schema, f"/v1/events: {e}") from None
            except msgspec.DecodeError as e:
                raise SourceError(ErrorReason.decode, f"/v1/events: {e}") from None
            events = [ev for raw in page.events if (ev := norm.from_raw(raw)) is not None]
            stuck = page.next_cursor is None or page.next_cursor == cursor
            yield IngestBatch(
                events=events,
                rejected=norm.take_rejected(),
                cursor=page.next_cursor if page.next_cursor else None,
                snapshot=snapshot,
            )
            snapshot = None
            cursor = page.next_cursor or cursor
            if not page.has_more or stuck:
                ctx.backlog = False
                break
