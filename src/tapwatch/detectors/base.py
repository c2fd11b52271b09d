"""What every detector takes and gives: pure inputs (time passed in) and Findings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from tapwatch.window import AccountDays, AppHours, EventWindow

SEVERITIES = ("info", "warning", "critical")


class Reason(msgspec.Struct, kw_only=True):
    """One measured reason: value against threshold, and the policy rule it touches."""

    code: str  # bounded enum-like, e.g. "low_reach", "serial_arrivals"
    text: str  # one readable sentence
    value: float
    threshold: float
    rule: str | None = None  # e.g. "2026 management measures: no mandatory check-in"


class Finding(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    app: str
    severity: str
    score: float  # 0..1, how strong the signal is
    window_start: float  # epoch seconds
    window_end: float
    summary: str
    reasons: list[Reason]
    evidence: dict[str, Any]  # event_ids, accounts (pseudonyms), devices, points, ...
    confidence: float  # 0..1, how much data it stands on
    #: a cross-app finding: every app it is about, `app` (the one it is filed under) first;
    #: empty for a finding about one app. Each app's counts and alerts include it.
    apps: list[str] = msgspec.field(default_factory=list)

    def members(self) -> list[str]:
        """The apps this finding is about."""
        return self.apps or [self.app]


def finding_id(kind: str, app: str, *keys: object) -> str:
    """Stable id: the same kind, app and evidence keys give the same id."""
    h = hashlib.sha256()
    h.update(kind.encode())
    h.update(b"\0")
    h.update(app.encode())
    for k in keys:
        h.update(b"\0")
        h.update(str(k).encode())
    return h.hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class CheckinPoint:
    id: str
    lat: float
    lon: float
    radius_m: float


@dataclass(slots=True)
class AppProfile:
    """What the registry says about one app (detector-facing, no config machinery)."""

    id: str
    name: str = ""
    owner: str = ""
    region: str = ""
    category: str = ""
    launched: date | None = None
    annual_cost_cny: float | None = None
    intended_users: int | None = None
    declared_features: frozenset[str] = frozenset()
    exempt: bool = False
    points: tuple[CheckinPoint, ...] = ()
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    season_months: frozenset[int] | None = None  # months in which a seasonal app is used
    #: per-detector overrides: {kind: {setting: value}}, already validated
    detector_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


class ArticleDay(msgspec.Struct, frozen=True, array_like=True):
    """One article's figures on one local day, as a platform counts them (an aggregate:
    no account behind it). From WeChat's datacube getarticlesummary."""

    day: str  # ISO date, China Standard Time
    article: str  # the platform's id (msgid: message id and position)
    title: str
    read_users: int
    reads: int
    share_users: int
    shares: int
    favourite_users: int
    favourites: int


class AccountDay(msgspec.Struct, frozen=True, array_like=True):
    """An account's figures on one local day (followers, reading, sharing), as a platform
    counts them; None where it gave none."""

    day: str  # ISO date, China Standard Time
    followers: int | None = None
    new_followers: int | None = None
    unfollowers: int | None = None
    read_users: int | None = None
    reads: int | None = None
    share_users: int | None = None
    shares: int | None = None
    favourite_users: int | None = None
    favourites: int | None = None


@dataclass(slots=True)
class UsageSnapshot:
    """The app's own figures from `GET /v1/usage` (or a Prometheus source, or a
    platform's daily statistics, which also fill `days` and `articles`)."""

    at: float
    registered_accounts: int | None = None
    active_accounts_1d: int | None = None
    active_accounts_7d: int | None = None
    active_accounts_30d: int | None = None
    last_release_at: float | None = None
    last_content_update_at: float | None = None
    features: frozenset[str] = frozenset()
    days: tuple[AccountDay, ...] = ()
    articles: tuple[ArticleDay, ...] = ()


@dataclass(slots=True)
class DailyUsage:
    """App-level totals per local day over the whole rollup horizon (default 400 days):
    enough to compare an app with its own past (its peak, the same season a year ago)
    without holding a year of per-account rows. Days without events are absent."""

    day: np.ndarray  # int32 local day numbers, ascending
    active: np.ndarray  # int32 accounts with any event that day
    meaningful_accounts: np.ndarray  # int32 accounts with a meaningful action that day
    meaningful: np.ndarray  # int64 meaningful actions that day

    def __len__(self) -> int:
        return int(self.day.shape[0])

    @classmethod
    def from_rows(cls, rows: list[tuple[int, int, int, int]]) -> DailyUsage:
        """From (day, active, meaningful_accounts, meaningful) rows in any order."""
        rows = sorted(rows)
        cols = list(zip(*rows, strict=True)) if rows else [()] * 4
        return cls(
            day=np.array(cols[0], dtype=np.int32),
            active=np.array(cols[1], dtype=np.int32),
            meaningful_accounts=np.array(cols[2], dtype=np.int32),
            meaningful=np.array(cols[3], dtype=np.int64),
        )

    @classmethod
    def from_account_days(cls, ad: AccountDays) -> DailyUsage:
        """The same totals summed from per-account rollups."""
        if len(ad) == 0:
            return cls.from_rows([])
        days, idx = np.unique(ad.day, return_inverse=True)
        return cls(
            day=days.astype(np.int32),
            active=np.bincount(idx, minlength=days.size).astype(np.int32),
            meaningful_accounts=np.bincount(
                idx, weights=(ad.meaningful > 0), minlength=days.size
            ).astype(np.int32),
            meaningful=np.bincount(idx, weights=ad.meaningful, minlength=days.size).astype(
                np.int64
            ),
        )

    def select(self, mask: np.ndarray) -> DailyUsage:
        return DailyUsage(
            self.day[mask], self.active[mask], self.meaningful_accounts[mask],
            self.meaningful[mask],
        )

    def extend(self, new: DailyUsage) -> DailyUsage:
        """These days followed by `new` (later days)."""
        return DailyUsage(
            *(
                np.concatenate([getattr(self, f), getattr(new, f)])
                for f in ("day", "active", "meaningful_accounts", "meaningful")
            )
        )


@dataclass(slots=True)
class DetectorInput:
    """Everything a detector may read about one app, at time `now` (no clock reads)."""

    app: AppProfile
    now: float
    events: EventWindow  # raw recent events (the raw window, default 7 days)
    account_days: AccountDays  # long rollups (default 120 days)
    app_hours: AppHours
    snapshot: UsageSnapshot | None = None
    data_since: float | None = None  # first time tapwatch has data for this app
    #: app-level daily totals over the rollup horizon; None: derived from account_days
    history: DailyUsage | None = None

    def usage_history(self) -> DailyUsage:
        """`history`, or the same totals from the (shorter) account-day rollups."""
        if self.history is not None:
            return self.history
        return DailyUsage.from_account_days(self.account_days)
