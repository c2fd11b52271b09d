"""The read-only views the daemon hands its exporters (exporters/view.py protocols).

`Daemon` itself is the `CollectorView` of /metrics (its logins through
`AuthenticatorLogins`). `DaemonInspector` is the findings
API's and pages' `InspectorView`, and `StoreFindings` its `FindingsStore`: reads on the
store's pool of read-only query connections, the status change on the writer.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tapwatch.config import AppConfig
from tapwatch.daemon.auth import REALMS, Authenticator
from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.detectors.assessment import Assessment
from tapwatch.events import Event
from tapwatch.exporters.view import EvidencePage
from tapwatch.store import findings as store_findings
from tapwatch.store.findings import (
    AuditEntry,
    DayActivity,
    FindingPage,
    FindingQuery,
    FindingRecord,
)
from tapwatch.store.sqlite import Store

if TYPE_CHECKING:
    from tapwatch.daemon.runtime import Daemon


def _export(store: Store, q: FindingQuery, limit: int) -> list[FindingRecord]:
    out = []
    for r in store_findings.iter_findings(store, q):
        out.append(r)
        if len(out) >= limit:
            break
    return out


class EvidenceCache:
    """A finding's evidence events, read once for everyone who looks at it.

    Finding them decodes every raw batch around the finding's window (milliseconds to
    tens of them): a finding an alert points many inspectors to at once would be decoded
    once per request. Entries are keyed on what changes the answer (the finding's id,
    status and last detector sighting), expire after `ttl_s` (raw retention may prune
    events meanwhile), and concurrent misses of one key share one read."""

    def __init__(
        self, size: int = 64, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str, float], tuple[float, asyncio.Future[Any]]]
        self._entries = OrderedDict()

    async def get(
        self, rec: FindingRecord, read: Callable[[], Awaitable[tuple[list[Event], str]]]
    ) -> tuple[list[Event], str]:
        key = (rec.finding.id, rec.status, rec.last_seen)
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            self._entries.move_to_end(key)
            return await asyncio.shield(hit[1])
        fut: asyncio.Future[tuple[list[Event], str]] = asyncio.ensure_future(read())
        self._entries[key] = (now, fut)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        try:
            return await asyncio.shield(fut)
        except BaseException:
            if self._entries.get(key, (0.0, None))[1] is fut:
                del self._entries[key]  # a failed read is not remembered
            raise


class AuthenticatorLogins:
    """LoginView of the daemon's Authenticator."""

    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth

    @property
    def failures(self) -> Mapping[str, int]:
        return {r: self._auth.failures[r] for r in REALMS}

    @property
    def refused(self) -> Mapping[str, int]:
        return {r: self._auth.refused[r] for r in REALMS}

    @property
    def password_checks(self) -> int:
        return self._auth.passwords.bcrypt_checks

    @property
    def web_config_ok(self) -> bool | None:
        web = self._auth.web
        return None if web is None else web.last_error is None

    @property
    def users_file_ok(self) -> bool | None:
        users = self._auth.users
        return None if users is None else users.last_error is None


class StoreFindings:
    """FindingsStore over the daemon's AsyncStore."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store
        self._evidence = EvidenceCache()

    async def query(self, q: FindingQuery) -> FindingPage:
        return await self._store.query(store_findings.query_findings, q)

    async def export(self, q: FindingQuery, limit: int) -> list[FindingRecord]:
        return await self._store.query(_export, q, limit)

    async def get(self, finding_id: str) -> FindingRecord | None:
        return await self._store.query(store_findings.get_finding, finding_id)

    async def audit(self, finding_id: str) -> list[AuditEntry]:
        return await self._store.query(store_findings.audit_log, finding_id)

    async def evidence(self, record: FindingRecord, offset: int, limit: int) -> EvidencePage:
        events, source = await self._evidence.get(
            record, lambda: self._store.query(store_findings.evidence_events, record)
        )
        return EvidencePage(events[offset : offset + limit], len(events), offset, source)

    async def daily_activity(self, app: str, since_day: int) -> list[DayActivity]:
        return await self._store.query(store_findings.app_daily_activity, app, since_day)

    async def apps_with_findings(self) -> list[str]:
        return await self._store.query(store_findings.known_values, "app")

    async def set_status(
        self, finding_id: str, to: str, actor: str, reason: str | None, now: float
    ) -> tuple[AuditEntry, int]:
        s = self._store
        write = store_findings.set_status
        return await s.write(write, s.writer, finding_id, to, actor, reason, now)


class DaemonInspector:
    """InspectorView of a running daemon (reads its current config and detector pass)."""

    def __init__(self, daemon: Daemon) -> None:
        self._d = daemon
        self.findings = StoreFindings(daemon.store)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self._d.config.daemon.detect.timezone)

    @property
    def rollup_days(self) -> int:
        return self._d.config.daemon.detect.rollup_days

    @property
    def assessed_at(self) -> float | None:
        return self._d.detect.finished_at

    def clock(self) -> float:
        return self._d.clock()

    def registry(self) -> Mapping[str, AppConfig]:
        return {a.config.id: a.config for a in self._d.config.apps}

    def my_apps(self) -> Sequence[AppConfig]:
        return self._d.my_apps()

    def assessments(self) -> Mapping[str, Assessment]:
        result = self._d.detect.result
        return result.assessments if result is not None else {}
