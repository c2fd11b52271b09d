"""Usage API v1 source: `GET {base}/v1/usage` snapshot and cursor-paged `GET {base}/v1/events`.

Each page becomes one batch of columns (decoded in one call), committed with the page's
`next_cursor` in one transaction, so a crash between pages re-fetches at most one page (and
de-duplication drops it). A poll that is sent to the same cursor a third time is going
round a cycle (A -> B -> A with `has_more` true): it fails (`schema`) instead of paging
round it for ever. (Going back once, to re-serve events, is allowed.)

The next page is asked for as soon as a page is decoded (its cursor is in the envelope),
so the app's answer time overlaps the normalising and storing of the current one; a page
fetched ahead is only ever committed after the pages before it, like any other.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import msgspec

from tapwatch.config import UsageApiSourceConfig
from tapwatch.detectors.base import UsageSnapshot
from tapwatch.events import TooDeep
from tapwatch.sources.base import Count, ErrorReason, PollContext, SourceError
from tapwatch.sources.http import auth_headers, endpoint, get_bytes, ssl_context
from tapwatch.sources.normalise import decode_page
from tapwatch.store.sqlite import IngestBatch
from tapwatch.timestamps import TimeError, parse_one

#: times one poll may be sent to the same cursor (a second visit re-serves events, which
#: de-duplication absorbs; a third is a cycle)
MAX_CURSOR_VISITS = 2


#: Most features a usage body may list, and the longest name: the known names are under 20
#: characters; a body listing thousands is not describing an app.
MAX_FEATURES = 64
MAX_FEATURE_LENGTH = 64

Feature = Annotated[str, msgspec.Meta(max_length=MAX_FEATURE_LENGTH)]


class _UsageBody(msgspec.Struct):
    registered_accounts: Count | None = None
    active_accounts_1d: Count | None = None
    active_accounts_7d: Count | None = None
    active_accounts_30d: Count | None = None
    last_release_at: str | float | None = None
    last_content_update_at: str | float | None = None
    features: Annotated[list[Feature], msgspec.Meta(max_length=MAX_FEATURES)] = []


_usage_decoder = msgspec.json.Decoder(_UsageBody)


def _time(v: str | float | None, name: str) -> float | None:
    """A usage time to epoch seconds, within the same plausible range as event times
    (2000 .. 2100). A time without a UTC offset is unknown (None): a wall time in a zone
    we cannot know."""
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            raise SourceError(
                ErrorReason.schema, f"/v1/usage: {name} {v[:40]!r} is not RFC 3339"
            ) from None
        if dt.tzinfo is None:
            return None
        v = dt.timestamp()
    if v is None:
        return None
    try:
        return parse_one(v, name)
    except TimeError as e:
        raise SourceError(ErrorReason.schema, f"/v1/usage: {e}") from None


def parse_usage(body: bytes, at: float) -> UsageSnapshot:
    """Decode a `/v1/usage` body into a snapshot (SourceError on a bad body)."""
    try:
        u = _usage_decoder.decode(body)
    except msgspec.ValidationError as e:
        raise SourceError(ErrorReason.schema, f"/v1/usage: {e}") from None
    except msgspec.DecodeError as e:
        raise SourceError(ErrorReason.decode, f"/v1/usage: {e}") from None
    except RecursionError:
        raise SourceError(ErrorReason.decode, f"/v1/usage: {TooDeep()}") from None
    return UsageSnapshot(
        at=at,
        registered_accounts=u.registered_accounts,
        active_accounts_1d=u.active_accounts_1d,
        active_accounts_7d=u.active_accounts_7d,
        active_accounts_30d=u.active_accounts_30d,
        last_release_at=_time(u.last_release_at, "last_release_at"),
        last_content_update_at=_time(u.last_content_update_at, "last_content_update_at"),
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

        def fetch(cursor: str | None) -> asyncio.Task[bytes]:
            params = {"limit": str(self.cfg.page_limit)}
            if cursor:
                params["cursor"] = cursor
            task = asyncio.ensure_future(get("/v1/events", params))
            # a page fetched ahead and then not wanted (the poll ended first) must not
            # log "exception never retrieved"
            task.add_done_callback(_retrieve)
            return task

        snapshot: UsageSnapshot | None = parse_usage(await get("/v1/usage"), ctx.now())
        cursor = ctx.cursor
        followed: Counter[str | None] = Counter({cursor: 1})  # cursors asked for in this poll
        norm = ctx.normaliser()
        ctx.backlog = True  # until a page says it is the last
        ahead = fetch(cursor)
        try:
            for pages in range(1, self.cfg.max_pages_per_cycle + 1):
                try:
                    page = decode_page(await ahead)
                except msgspec.ValidationError as e:
                    raise SourceError(ErrorReason.schema, f"/v1/events: {e}") from None
                except (msgspec.DecodeError, TooDeep) as e:
                    raise SourceError(ErrorReason.decode, f"/v1/events: {e}") from None
                stuck = page.next_cursor is None or page.next_cursor == cursor
                if not stuck and page.has_more:
                    followed[page.next_cursor] += 1
                    if followed[page.next_cursor] > MAX_CURSOR_VISITS:
                        raise SourceError(
                            ErrorReason.schema,
                            f"/v1/events: cursor cycle: page {pages} of this poll sends "
                            f"tapwatch back to a cursor it followed {MAX_CURSOR_VISITS} times "
                            f"already, with has_more true ({len(followed)} distinct cursors "
                            "in this poll)",
                        )
                last = not page.has_more or stuck
                if not last and pages < self.cfg.max_pages_per_cycle:
                    # the next page is on its way while this one is normalised and stored:
                    # the app's answer time overlaps tapwatch's work instead of adding to it
                    ahead = fetch(page.next_cursor)
                events = norm.from_page(page)
                next_cursor = page.next_cursor
                # the page's decoded objects (a struct and a string per field) go now, not
                # when the next page's decode replaces them: the next decode reuses their
                # memory while it is still in the cache, and the pages of the apps polled
                # at once are not all held while the batches wait for the store
                del page
                yield IngestBatch(
                    events=events,
                    rejected=norm.take_rejected(),
                    cursor=next_cursor if next_cursor else None,
                    snapshot=snapshot,
                )
                snapshot = None
                cursor = next_cursor or cursor
                if last:
                    ctx.backlog = False
                    break
        finally:
            ahead.cancel()  # a fetch ahead that the poll no longer wants (no-op when done)


def _retrieve(task: asyncio.Task[bytes]) -> None:
    """Mark a finished fetch's outcome as seen (its awaiter, if any, still gets it)."""
    if not task.cancelled():
        task.exception()
