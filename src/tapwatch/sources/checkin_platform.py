"""What the WeCom check-in and DingTalk attendance adapters share: whose records to read,
the time windows and user batches the platforms' per-call limits allow, the resumable
cursor, and the path of a page of records into stored events.

Polling: on first contact the source reads `backfill` (default 30 days) of history; each
later poll reads from the end of the last complete window minus `overlap` up to now, so
check-ins uploaded late (a phone that was offline) still arrive; the overlap's records
come again and the store's id table drops them (counted as duplicates). The window is cut
into spans the platform allows per call, and the users into batches it allows per call.
The cursor, `{"through": T}`, advances only when every user batch of a span is stored, in
the same transaction as the last batch: a crash re-reads at most one span.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from tapwatch.config import PlatformUsers, PointConfig
from tapwatch.datum import Datum
from tapwatch.sources.base import (
    ErrorReason,
    PollContext,
    SourceError,
    rows_to_wgs84,
)
from tapwatch.store.sqlite import IngestBatch

#: members of configured departments are listed again after this long
USERS_TTL_S = 3600.0
#: bound on departments walked below the configured ones (a corp has at most tens of
#: thousands; a cycle in a misbehaving answer must not loop for ever)
MAX_DEPARTMENTS = 50_000


@dataclass(frozen=True)
class CallLimits:
    """The platform's documented limits for one records call."""

    max_users: int
    max_span_s: float


def windows(start: float, end: float, max_span_s: float) -> list[tuple[float, float]]:
    """[start, end] cut into consecutive windows of at most max_span_s."""
    out = []
    t = start
    while t < end:
        out.append((t, min(end, t + max_span_s)))
        t += max_span_s
    return out


def batches(users: Sequence[str], size: int) -> list[list[str]]:
    return [list(users[i : i + size]) for i in range(0, len(users), size)]


def point_titles(points: Sequence[PointConfig]) -> dict[str, str]:
    """Title (a point's id or one of its names) -> the point's id."""
    titles: dict[str, str] = {}
    for p in points:
        for t in (p.id, *p.names):
            titles.setdefault(t.strip(), p.id)
    return titles


class CheckinPlatformSource(ABC):
    """A source reading check-in records of a platform's members, window by window."""

    limits: CallLimits
    datum: Datum = Datum.gcj02  # what the platform reports positions in

    def __init__(self, users: PlatformUsers, backfill: float, overlap: float) -> None:
        self._users_cfg = users
        self._backfill = backfill
        self._overlap = overlap
        self._users: list[str] | None = None
        self._users_at = 0.0

    # ---- platform specifics ----------------------------------------------------------

    @abstractmethod
    async def list_department_users(self, ctx: PollContext, departments: list[int]) -> list[str]:
        """Every member of these departments and of their sub-departments."""

    @abstractmethod
    async def fetch(
        self, ctx: PollContext, users: list[str], start: float, end: float
    ) -> list[Any]:
        """Records of these users between start and end (within the call limits)."""

    @abstractmethod
    def to_rows(
        self, records: list[Any], ctx: PollContext
    ) -> tuple[list[dict[str, Any]], Counter[str]]:
        """Usage-API-shaped rows (positions in the platform's datum) and what was
        skipped, by SkipReason. Derived ids and photo hashes are keyed with the
        pseudonymiser, so they reveal nothing without the key."""

    # ---- shared ----------------------------------------------------------------------

    async def users(self, ctx: PollContext) -> list[str]:
        cfg = self._users_cfg
        if cfg.user_ids is not None:
            return list(dict.fromkeys(cfg.user_ids))
        if self._users is None or time.monotonic() - self._users_at > USERS_TTL_S:
            assert cfg.department_ids is not None
            self._users = sorted(set(await self.list_department_users(ctx, cfg.department_ids)))
            self._users_at = time.monotonic()
        return self._users

    async def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]:
        now = ctx.now()
        through = _through(ctx.cursor)
        start = now - self._backfill if through is None else max(
            through - self._overlap, now - self._backfill
        )
        users = await self.users(ctx)
        norm = ctx.normaliser()
        spans = windows(start, now, self.limits.max_span_s)
        for w0, w1 in spans:
            groups = batches(users, self.limits.max_users) or [[]]
            for i, group in enumerate(groups):
                records = await self.fetch(ctx, group, w0, w1) if group else []
                rows, skipped = self.to_rows(records, ctx)
                # the call's decoded records, then its rows, go as soon as they are used:
                # not held while the next call's answer is decoded
                del records
                rows_to_wgs84(rows, self.datum)
                events = norm.from_rows(rows)
                del rows
                last = i == len(groups) - 1
                yield IngestBatch(
                    events=events,
                    rejected=norm.take_rejected(),
                    skipped=skipped,
                    cursor=json.dumps({"through": w1}) if last else None,
                )


def _through(cursor: str | None) -> float | None:
    if not cursor:
        return None
    try:
        c = json.loads(cursor)
        return float(c["through"])
    except (ValueError, KeyError, TypeError):
        raise SourceError(
            ErrorReason.schema, "stored cursor is not this source's (was the kind changed?)"
        ) from None
