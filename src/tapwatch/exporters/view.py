"""What the exporters read of the daemon: narrow, read-only views (protocols).

Layers see down, never up: /metrics, the findings API and the inspector pages never import
the daemon. The daemon composes them (daemon/server.py) and hands each the view it needs:

* `CollectorView` for /metrics and the home page: the collector's per-app state, the
  latest detector pass, reload and shard facts. The daemon itself satisfies it.
* `InspectorView` for the findings API and pages: the registry, the local time zone, the
  latest assessments, and `findings`, a `FindingsStore` whose reads run on a small pool
  of read-only store connections (and whose one write is a finding's status change).

A test of the import graph (tests/unit/test_import_graph.py) keeps exporters/ from
importing tapwatch.daemon.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from tapwatch.config import AppConfig
    from tapwatch.detectors.assessment import Assessment
    from tapwatch.detectors.base import UsageSnapshot
    from tapwatch.detectors.engine import FleetResult
    from tapwatch.events import Event
    from tapwatch.exporters.store_health import StoreHealthView
    from tapwatch.store.dedup_tiers import DedupSize
    from tapwatch.store.findings import (
        AuditEntry,
        DayActivity,
        FindingPage,
        FindingQuery,
        FindingRecord,
    )


# ---- the collector, for /metrics ------------------------------------------------------


class AppStateView(Protocol):
    """The collector's state of one app."""

    @property
    def up(self) -> int | None: ...
    @property
    def last_success(self) -> float | None: ...
    @property
    def scrape_duration(self) -> float | None: ...
    @property
    def poll_lag(self) -> float: ...
    @property
    def version(self) -> int:
        """Bumped after every poll: the app's /metrics lines are formatted again."""
        ...

    @property
    def errors(self) -> Mapping[str, int]: ...
    @property
    def ingested(self) -> Mapping[str, int]: ...
    @property
    def rejected(self) -> Mapping[str, int]: ...
    def stale(self, now: float) -> bool: ...


class DetectView(Protocol):
    """The latest detector pass."""

    @property
    def result(self) -> FleetResult | None: ...
    @property
    def finished_at(self) -> float | None: ...
    @property
    def duration_s(self) -> float | None: ...
    @property
    def active_accounts(self) -> Mapping[str, Mapping[str, int]] | None: ...
    @property
    def snapshots(self) -> Mapping[str, UsageSnapshot] | None: ...
    @property
    def finding_totals(self) -> Mapping[tuple[str, str, str], int] | None: ...
    @property
    def open_by_kind(self) -> Mapping[tuple[str, str], int] | None: ...
    @property
    def raw_events(self) -> int: ...
    @property
    def failures(self) -> Mapping[str, int]:
        """Detector runs that raised since start, by detector kind."""
        ...
    @property
    def version(self) -> int:
        """Bumped after every pass."""
        ...


class ReloadView(Protocol):
    @property
    def successful(self) -> bool: ...
    @property
    def last_success(self) -> float: ...
    @property
    def generation(self) -> int:
        """Bumped by every successful reload (registry entries may have changed)."""
        ...


class SettingsFileView(Protocol):
    """A settings file the daemon re-reads when it changes (web config, users file)."""

    @property
    def ok(self) -> bool:
        """Whether the last read succeeded (False: the last good version is in use)."""
        ...

    @property
    def last_success(self) -> float:
        """Unix time the version in use was read."""
        ...


class LoginView(Protocol):
    """Logins as /metrics counts them (the daemon's Authenticator, read-only)."""

    @property
    def failures(self) -> Mapping[str, int]:
        """Wrong user name or password since start, for every realm (metrics, findings)."""
        ...

    @property
    def refused(self) -> Mapping[str, int]:
        """Answered 429 without a password check since start, for every realm."""
        ...

    @property
    def password_checks(self) -> int: ...
    @property
    def web_config(self) -> SettingsFileView | None:
        """The web config's reads; None without one."""
        ...

    @property
    def users_file(self) -> SettingsFileView | None:
        """The users file's reads; None without one."""
        ...


@runtime_checkable
class CollectorView(Protocol):
    """What /metrics and the home page read of the daemon."""

    @property
    def states(self) -> Mapping[str, AppStateView]: ...
    @property
    def detect(self) -> DetectView: ...
    @property
    def reload_status(self) -> ReloadView: ...
    @property
    def shard(self) -> int: ...
    @property
    def total_shards(self) -> int: ...
    @property
    def loop_lag(self) -> float: ...
    @property
    def timezone(self) -> ZoneInfo:
        """The daemon's local time zone."""
        ...

    def clock(self) -> float: ...
    def my_apps(self) -> Sequence[AppConfig]:
        """The registered apps this daemon's shard polls."""
        ...

    def store_size_bytes(self) -> int: ...
    def dedup_size(self) -> DedupSize:
        """De-duplication's memory, tiers and disk lookups."""
        ...

    @property
    def store_health(self) -> StoreHealthView:
        """Whether the store takes writes, and why not."""
        ...

    def logins(self) -> LoginView: ...


# ---- findings, for the API and pages ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidencePage:
    """A slice of a finding's evidence events, in time order.

    source: "held" (kept past raw retention for a confirmed finding), "raw" (still in the
    raw store), "none" (the evidence names events, none are stored any more) or
    "not_event_based" (the evidence names no events: the finding rests on daily rollups,
    registry entries or the app's own figures)."""

    events: list[Event]  # each names the app it was filed on (duplicate reporting: several)
    total: int
    offset: int
    source: str


@runtime_checkable
class FindingsStore(Protocol):
    """The store as the findings API and pages use it. Reads run off the event loop on
    read-only connections; `set_status` is the one write."""

    async def query(self, q: FindingQuery) -> FindingPage: ...
    async def export(self, q: FindingQuery, limit: int) -> list[FindingRecord]:
        """Every match (up to `limit`), newest first."""
        ...

    async def get(self, finding_id: str) -> FindingRecord | None: ...
    async def audit(self, finding_id: str) -> list[AuditEntry]: ...
    async def evidence(self, record: FindingRecord, offset: int, limit: int) -> EvidencePage: ...
    async def daily_activity(self, app: str, since_day: int) -> list[DayActivity]: ...
    async def apps_with_findings(self) -> list[str]: ...
    async def open_by_severity(self) -> dict[str, dict[str, int]]:
        """app -> severity -> findings open or confirmed."""
        ...

    async def set_status(
        self, finding_id: str, to: str, actor: str, reason: str | None, now: float
    ) -> tuple[AuditEntry, int]:
        """Record a decision; returns its audit entry and the events held for it.
        Raises store.findings.FindingNotFound or StatusError."""
        ...


@runtime_checkable
class InspectorView(Protocol):
    """What the findings API and the inspector pages read of the daemon."""

    @property
    def findings(self) -> FindingsStore: ...
    @property
    def timezone(self) -> ZoneInfo:
        """The daemon's local time zone (dates in filters, times on pages)."""
        ...

    @property
    def rollup_days(self) -> int:
        """Days of daily rollups the detectors judge from (the trend chart's span)."""
        ...

    @property
    def assessed_at(self) -> float | None:
        """When the latest detector pass finished (None before the first)."""
        ...

    def clock(self) -> float: ...
    def registry(self) -> Mapping[str, AppConfig]:
        """Every registered app by id (all shards: findings name apps of any shard)."""
        ...

    def my_apps(self) -> Sequence[AppConfig]: ...
    def assessments(self) -> Mapping[str, Assessment]:
        """The latest shutdown assessment of each app of this shard."""
        ...
