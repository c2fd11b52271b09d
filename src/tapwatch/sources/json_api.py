"""Any JSON API, mapped onto usage events by configuration: `kind: json`
(docs/sources/json.md). json_exporter's idea: the collector adapts to the vendor's API,
the vendor changes nothing.

A request (GET or POST, with `${...}` templates in parameters and body) returns a page;
`items` (JMESPath) finds the list of records in it and `fields` map each record onto
usage-API-v1 event fields, which then go through the same normalisation as every other
source (validation, clock checks, pseudonyms). Paging: `cursor` (the page names the next
one), `offset` (offset/limit over a list that only grows) or `date_window` (time windows
from the last poll's end to now); without `paging`, one request per poll. Records
without an id get a stable one: a keyed hash of their mapped fields, so overlapping
polls de-duplicate exactly.
"""

from __future__ import annotations

import json
import string
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jmespath
import msgspec

from tapwatch.config import (
    JsonCursorPaging,
    JsonDateWindowPaging,
    JsonOffsetPaging,
    JsonSourceConfig,
)
from tapwatch.sources.base import (
    ErrorReason,
    PollContext,
    SourceError,
    parse_json_cursor,
    rows_to_wgs84,
)
from tapwatch.sources.http import auth_headers, display_url, endpoint, request_bytes, ssl_context
from tapwatch.store.sqlite import IngestBatch

_STRING_FIELDS = frozenset(
    {"id", "type", "account", "unit", "device", "device_model", "network", "point",
     "target", "content_hash", "photo_hash"}
)
_json = msgspec.json.Decoder()


class JsonApiSource:
    def __init__(self, cfg: JsonSourceConfig) -> None:
        self.cfg = cfg
        self._ssl = ssl_context(cfg.tls.ca_file, cfg.tls.insecure_skip_verify)
        self._items = jmespath.compile(cfg.items)
        self._fields = {k: jmespath.compile(v) for k, v in cfg.fields.items()}
        self._id_fields = cfg.id_fields or sorted(f for f in cfg.fields if f != "id")
        self._naive_tz = ZoneInfo(cfg.naive_time_zone) if cfg.naive_time_zone else None
        p = cfg.paging
        self._next = jmespath.compile(p.next_cursor) if isinstance(p, JsonCursorPaging) else None
        self._has_more = (
            jmespath.compile(p.has_more)
            if isinstance(p, JsonCursorPaging) and p.has_more else None
        )

    # ---- requests --------------------------------------------------------------------

    async def _page(self, ctx: PollContext, values: dict[str, Any],
                    extra: dict[str, str]) -> Any:
        assert ctx.session is not None
        text = {k: "" if v is None else str(v) for k, v in values.items()}
        params = {k: string.Template(v).safe_substitute(text) for k, v in self.cfg.params.items()}
        params.update(extra)
        body = None
        headers = auth_headers(self.cfg.auth)
        if self.cfg.body is not None:
            as_json = {k: json.dumps(v) for k, v in values.items()}
            body = string.Template(self.cfg.body).safe_substitute(as_json).encode()
            headers["Content-Type"] = "application/json"
        raw = await request_bytes(
            ctx.session, self.cfg.method, endpoint(self.cfg.url), timeout=ctx.timeout,
            max_bytes=ctx.max_response_bytes, headers=headers, params=params or None,
            body=body, ssl_ctx=self._ssl, expect=(),
        )
        try:
            return _json.decode(raw)
        except msgspec.DecodeError:
            msg = f"{display_url(self.cfg.url)}: not JSON"
            raise SourceError(ErrorReason.decode, msg) from None

    def _records(self, doc: Any) -> list[Any]:
        items = self._items.search(doc)
        if items is None:
            return []
        if not isinstance(items, list):
            raise SourceError(
                ErrorReason.schema, f"items {self.cfg.items!r} is not a list in the answer"
            )
        return items

    # ---- mapping ---------------------------------------------------------------------

    def to_rows(self, items: list[Any], ctx: PollContext) -> list[dict[str, Any]]:
        """Usage-API-shaped rows of the page's records (positions still in the source's
        datum)."""
        cfg = self.cfg
        rows = []
        for item in items:
            row: dict[str, Any] = {}
            for name, expr in self._fields.items():
                v = expr.search(item)
                if v is None or isinstance(v, dict | list):
                    continue
                if name in _STRING_FIELDS and not isinstance(v, str):
                    v = str(v).lower() if isinstance(v, bool) else str(v)
                row[name] = v
            t = row.get("type")
            if t is not None and t in cfg.type_map:
                row["type"] = cfg.type_map[t]
            if "ts" in row:
                row["ts"] = self._ts(row["ts"])
            for k in ("lat", "lon"):
                if isinstance(row.get(k), int | float) and not isinstance(row[k], bool):
                    row[k] = row[k] * cfg.coordinate_scale
            if "id" not in row:
                key = json.dumps([row.get(f) for f in self._id_fields], default=str)
                row["id"] = "json-" + ctx.pseudonymizer("json_record", key)
            rows.append(row)
        return rows

    def _ts(self, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return v / 1000.0 if self.cfg.ts_unit == "ms" else v
        if isinstance(v, str) and self._naive_tz is not None:
            try:
                dt = datetime.fromisoformat(v)
            except ValueError:
                return v  # the normaliser rejects it, counted as invalid_timestamp
            if dt.tzinfo is None:
                return dt.replace(tzinfo=self._naive_tz).isoformat()
        return v

    # ---- polling ---------------------------------------------------------------------

    async def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]:
        norm = ctx.normaliser()
        state = parse_json_cursor(ctx.cursor)
        p = self.cfg.paging
        if isinstance(p, JsonDateWindowPaging):
            pages = self._windows(ctx, p, state)
        elif isinstance(p, JsonOffsetPaging):
            pages = self._offsets(ctx, p, state)
        elif isinstance(p, JsonCursorPaging):
            pages = self._cursors(ctx, p, state)
        else:
            pages = self._single(ctx)
        async for items, new_state in pages:
            rows = self.to_rows(items, ctx)
            del items  # the page's decoded records go once they are rows (see _cursors)
            rows_to_wgs84(rows, self.cfg.datum)
            events = norm.from_rows(rows)
            del rows
            yield IngestBatch(
                events=events,
                rejected=norm.take_rejected(),
                cursor=None if new_state is None else json.dumps(new_state),
            )

    async def _single(self, ctx: PollContext) -> AsyncIterator[tuple[list[Any], Any]]:
        yield self._records(await self._page(ctx, {}, {})), None

    async def _cursors(
        self, ctx: PollContext, p: JsonCursorPaging, state: dict[str, Any]
    ) -> AsyncIterator[tuple[list[Any], Any]]:
        assert self._next is not None
        cursor = state.get("cursor")
        ctx.backlog = True
        for _ in range(self.cfg.max_pages_per_cycle):
            extra = {p.cursor_param: str(cursor)} if p.cursor_param and cursor else {}
            doc = await self._page(ctx, {"cursor": cursor}, extra)
            nxt = self._next.search(doc)
            nxt = None if nxt in (None, "") else str(nxt)
            more = bool(self._has_more.search(doc)) if self._has_more else nxt is not None
            # the cursor after the last page marks where new records will appear
            yield self._records(doc), ({"cursor": nxt} if nxt else None)
            del doc  # normalised by now: not held while the next page is fetched and decoded
            if not more or nxt is None or nxt == cursor:
                ctx.backlog = False
                return
            cursor = nxt

    async def _offsets(
        self, ctx: PollContext, p: JsonOffsetPaging, state: dict[str, Any]
    ) -> AsyncIterator[tuple[list[Any], Any]]:
        offset = int(state.get("offset", 0))
        ctx.backlog = True
        for _ in range(self.cfg.max_pages_per_cycle):
            extra = {}
            if p.offset_param:
                extra[p.offset_param] = str(offset)
            if p.limit_param:
                extra[p.limit_param] = str(p.limit)
            items = self._records(
                await self._page(ctx, {"offset": offset, "limit": p.limit}, extra)
            )
            offset += len(items)
            full = len(items) == p.limit
            yield items, {"offset": offset}
            del items  # normalised by now: not held while the next page is fetched and decoded
            if not full:
                ctx.backlog = False
                return

    async def _windows(
        self, ctx: PollContext, p: JsonDateWindowPaging, state: dict[str, Any]
    ) -> AsyncIterator[tuple[list[Any], Any]]:
        now = ctx.now()
        through = state.get("through")
        start = now - p.backfill if through is None else max(
            float(through) - p.overlap, now - p.backfill
        )
        done = 0
        while start < now:
            if done == self.cfg.max_pages_per_cycle:
                ctx.backlog = True
                return
            end = min(now, start + p.window)
            since, until = _fmt(start, p.time_format), _fmt(end, p.time_format)
            extra = {}
            if p.from_param:
                extra[p.from_param] = str(since)
            if p.to_param:
                extra[p.to_param] = str(until)
            doc = await self._page(ctx, {"since": since, "until": until}, extra)
            yield self._records(doc), {"through": end}
            del doc  # normalised by now: not held while the next window is fetched and decoded
            start = end
            done += 1


def _fmt(t: float, fmt: str) -> int | str:
    """A window bound as the API wants it (numbers stay numbers in a JSON body)."""
    if fmt == "epoch_s":
        return int(t)
    if fmt == "epoch_ms":
        return int(t * 1000)
    dt = datetime.fromtimestamp(t, UTC)
    if fmt == "date":
        return dt.date().isoformat()
    return dt.isoformat().replace("+00:00", "Z")
