"""The read-only views the daemon hands its exporters (exporters/view.py protocols).

`Daemon` itself is the `CollectorView` of /metrics (its logins through
`AuthenticatorLogins`). `DaemonInspector` is the findings
API's and pages' `InspectorView`, and `StoreFindings` its `FindingsStore`: reads on the
store's pool of read-only query connections, the status change on the writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tapwatch.config import AppConfig
from tapwatch.daemon.auth import REALMS, Authenticator
from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.detectors.assessment import Assessment
from tapwatch.events import Event
from tapwatch.exporters.cache import RecentResults
from tapwatch.exporters.view import EvidencePage, SettingsFileView
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
    def web_config(self) -> SettingsFileView | None:
        return self._auth.web

    @property
    def users_file(self) -> SettingsFileView | None:
        return self._auth.users


class StoreFindings:
    """FindingsStore over the daemon's AsyncStore."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store
        #: a finding's evidence events by (id, status, last sighting): decoding the raw
        #: batches around its window costs milliseconds, once for all who open it
        self._evidence: RecentResults[tuple[list[Event], str]] = RecentResults()

    async def query(self, q: FindingQuery) -> FindingPage:
        return await self._store.query(store_findings.query_findings, q)

    async def export(self, q: FindingQuery, limit: int) -> list[FindingRecord]:
        return await self._store.query(_export, q, limit)

    async def get(self, finding_id: str) -> FindingRecord | None:
        return await self._store.query(store_findings.get_finding, finding_id)

    async def audit(self, finding_id: str) -> list[AuditEntry]:
        return await self._store.query(store_findings.audit_log, finding_id)

    async def evidence(self, record: FindingRecord, offset: int, limit: int) -> EvidencePage:
        key = (record.finding.id, record.status, record.last_seen)
        events, source = await self._evidence.get(
            key, lambda: self._store.query(store_findings.evidence_events, record)
        )
        return EvidencePage(events[offset : offset + limit], len(events), offset, source)

    async def daily_activity(self, app: str, since_day: int) -> list[DayActivity]:
        return await self._store.query(store_findings.app_daily_activity, app, since_day)

    async def apps_with_findings(self) -> list[str]:
        return await self._store.query(store_findings.known_values, "app")

    async def open_by_severity(self) -> dict[str, dict[str, int]]:
        return await self._store.query(store_findings.open_by_severity)

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
        return self._d.timezone

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
