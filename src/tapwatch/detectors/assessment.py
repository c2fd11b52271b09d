"""Shutdown score: is this app an empty shell that should be shut down?

The 2023 Opinions ask that apps "with low usage frequency and little practical value" be
shut down promptly and that empty-shell and zombie apps be prevented. This module turns that
into a 0-100 score per app from eight signals, each a measured value against thresholds set
in config, worth up to `weights.<signal>` points:

- reach: organic active accounts over the last 30 days / intended users (dominant weight, so a
  small specialist app that reaches most of its small population stays healthy);
- dormancy: days since the last organic meaningful action;
- trend: organic meaningful actions in the last 30 days against the 90 days before;
- depth: meaningful actions per organic active account per 30 days;
- unused_features: share of declared features with no events for 90 days;
- maintenance: days since the last release or content update (inspection rules: 2 weeks
  without an update fails, 2-3 months is a zombie);
- redundancy: another registered app of the same region and category serving the same
  accounts;
- cost: annual cost per organic active account against the fleet median.

*Organic* accounts did at least one meaningful action (form_submit, appointment, action) and
were not flagged by two or more forced-usage detectors. The score is the points earned over
the weight of the signals that could be measured, so an app judged from its own snapshot
figures alone still gets a band, with lower confidence. A seasonal app is judged on the 30
days that end at the end of its last season.

Pure: time comes from `DetectorInput.now`, no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from datetime import date

import msgspec
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.events import MEANINGFUL_TYPES, EventType
from tapwatch.window import DAY, local_day_of

KIND = "shutdown"
#: Finding kinds the assessment emits, by band.
FINDING_KIND_BY_BAND = {"candidate": "shutdown_candidate", "review": "needs_review"}
BANDS = ("candidate", "review", "keep", "insufficient_data", "exempt")
SIGNALS = (
    "reach",
    "dormancy",
    "trend",
    "depth",
    "unused_features",
    "maintenance",
    "redundancy",
    "cost",
)

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MONTH = 30  # days: the assessment's unit of "recent"
_BASELINE_DAYS = 90  # the trend compares the last _MONTH with the 90 days before it
_MEANINGFUL = np.array(sorted(int(t) for t in MEANINGFUL_TYPES), dtype=np.uint8)

RULE_LOW_USE = "2023 Opinions: shut down apps with low usage frequency and little practical value"
RULE_ZOMBIE = "inspection rules: no update for 2 weeks fails; 2-3 months without one is a zombie"
RULE_CONSOLIDATE = "2023 Opinions: consolidate apps with similar or duplicate functions"
RULE_COST = "2023 Opinions: an app costs 100k-1M+ CNY to build; decide what problem it solves"

_DEFAULT_FEATURE_TYPES: dict[str, tuple[str, ...]] = {
    "checkin": ("checkin",),
    "appointment": ("appointment",),
    "appointments": ("appointment",),
    "study": ("study",),
    "forms": ("form_submit",),
    "form": ("form_submit",),
    "reporting": ("form_submit",),
    "articles": ("read",),
    "news": ("read",),
    "notices": ("read",),
    "likes": ("like",),
    "tasks": ("action",),
    "services": ("action",),
}


class Weights(BaseModel):
    """Maximum points per signal (the score is earned points / measured weight x 100)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reach: float = Field(30.0, ge=0, description="Points for reach (the dominant signal).")
    dormancy: float = Field(15.0, ge=0, description="Points for days without meaningful use.")
    trend: float = Field(10.0, ge=0, description="Points for a falling trend of meaningful use.")
    depth: float = Field(10.0, ge=0, description="Points for few actions per organic account.")
    unused_features: float = Field(5.0, ge=0, description="Points for unused declared features.")
    maintenance: float = Field(10.0, ge=0, description="Points for no release/content update.")
    redundancy: float = Field(10.0, ge=0, description="Points for a same-purpose peer app.")
    cost: float = Field(10.0, ge=0, description="Points for high cost per organic account.")


class Settings(BaseModel):
    """Shutdown score settings (config `detectors: shutdown:`; overridable per app)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate_score: float = Field(
        70.0, gt=0, le=100, description="Score at or above which the app is a shutdown candidate."
    )
    review_score: float = Field(
        50.0, gt=0, le=100, description="Score at or above which the app needs review."
    )
    min_age_days: int = Field(
        90, ge=0, description="Apps launched fewer days ago get band insufficient_data."
    )
    min_data_days: int = Field(
        30, ge=1, description="Apps with fewer days of data get band insufficient_data."
    )
    exclude_flagged_by: int = Field(
        2,
        ge=1,
        description="Accounts flagged by at least this many forced-usage detectors are not "
        "organic.",
    )
    reach_concern: float = Field(
        0.30,
        gt=0,
        le=1,
        description="Reach (organic 30-day accounts / intended users) below which points start.",
    )
    reach_full: float = Field(0.05, ge=0, le=1, description="Reach at or below which all points.")
    dormancy_concern_days: float = Field(
        14.0, ge=0, description="Days without meaningful use after which points start."
    )
    dormancy_full_days: float = Field(
        60.0, gt=0, description="Days without meaningful use that earn all points."
    )
    trend_concern: float = Field(
        0.8,
        gt=0,
        description="Ratio (last 30 days / 30-day average of the 90 before) below "
        "which points start.",
    )
    trend_full: float = Field(0.3, ge=0, description="Trend ratio at or below which all points.")
    trend_min_baseline_days: int = Field(
        30, ge=1, description="Days of baseline (before the last 30) needed to measure a trend."
    )
    depth_concern: float = Field(
        4.0,
        gt=0,
        description="Meaningful actions per organic account per 30 days below which points start.",
    )
    depth_full: float = Field(1.0, ge=0, description="Depth at or below which all points.")
    unused_feature_days: int = Field(
        90, ge=1, description="A declared feature with no events for this many days is unused."
    )
    unused_concern: float = Field(
        0.25, ge=0, lt=1, description="Share of unused declared features above which points start."
    )
    unused_full: float = Field(0.75, gt=0, le=1, description="Unused share earning all points.")
    maintenance_concern_days: float = Field(
        14.0, ge=0, description="Days since last release/content update after which points start."
    )
    maintenance_full_days: float = Field(
        90.0, gt=0, description="Days since last release/content update earning all points."
    )
    redundancy_overlap: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Share of this app's 30-day accounts also active in a same-region, "
        "same-category app at which the two count as serving the same users.",
    )
    cost_concern_ratio: float = Field(
        2.0, gt=0, description="Cost per organic account / fleet median above which points start."
    )
    cost_full_ratio: float = Field(10.0, gt=0, description="Cost ratio earning all points.")
    cost_min_apps: int = Field(
        3, ge=2, description="Apps with a known cost needed before the fleet median is used."
    )
    feature_event_types: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(_DEFAULT_FEATURE_TYPES),
        description="Declared feature name -> event types that show it is used.",
    )
    weights: Weights = Field(default_factory=Weights, description="Points per signal.")

    @field_validator("review_score")
    @classmethod
    def _review_below_candidate(cls, v: float, info: ValidationInfo) -> float:
        cand = info.data.get("candidate_score")
        if cand is not None and v >= cand:
            raise ValueError(f"must be below candidate_score ({cand})")
        return v

    @field_validator("reach_full", "trend_full", "depth_full")
    @classmethod
    def _full_below_concern(cls, v: float, info: ValidationInfo) -> float:
        name = info.field_name.removesuffix("_full") + "_concern"  # type: ignore[union-attr]
        concern = info.data.get(name)
        if concern is not None and v >= concern:
            raise ValueError(f"must be below {name} ({concern})")
        return v

    @field_validator(
        "dormancy_full_days", "unused_full", "maintenance_full_days", "cost_full_ratio"
    )
    @classmethod
    def _full_above_concern(cls, v: float, info: ValidationInfo) -> float:
        field = info.field_name or ""
        name = field.replace("_full", "_concern")
        concern = info.data.get(name)
        if concern is not None and v <= concern:
            raise ValueError(f"must be above {name} ({concern})")
        return v

    @field_validator("feature_event_types")
    @classmethod
    def _known_event_types(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        known = {t.name for t in EventType}
        for feature, types in v.items():
            bad = sorted(set(types) - known)
            if bad:
                raise ValueError(
                    f"feature {feature!r}: unknown event type(s) {bad}; known: {sorted(known)}"
                )
        return v


class Signal(msgspec.Struct, kw_only=True):
    """One line of the score breakdown. `value` is None when it could not be measured."""

    value: float | None
    threshold: float  # where points start
    points: float
    weight: float
    rule: str  # the policy rule the signal measures against


class Assessment(msgspec.Struct, kw_only=True):
    """The shutdown assessment of one app (what the inspector page shows)."""

    app: str
    band: str  # one of BANDS
    score: float  # 0..100
    confidence: float  # 0..1
    reasons: list[Reason]
    signals: dict[str, Signal]
    basis: str  # "rollups" (account-day rollups), "snapshot" (app's own figures) or "none"
    window_start: float  # epoch seconds: the judged 30-day window
    window_end: float  # = now, or the end of the last season for a seasonal app off-season


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """What was measured about one app before scoring (fleet context comes later)."""

    basis: str
    today: int  # local day number of `now`
    ref_day: int  # last local day of the judged window
    coverage_days: float | None
    organic_30d: int | None  # organic active accounts in the judged window
    meaningful_30d: int | None  # organic meaningful actions in the judged window
    baseline_per_30d: float | None  # organic meaningful actions per 30 days before it
    days_since_meaningful: float | None
    active_accounts: frozenset[str]  # every account with an event in the judged window
    unused_features: tuple[str, ...]
    mapped_features: tuple[str, ...]
    days_since_update: float | None


def day_date(day: int) -> date:
    return date.fromordinal(day + _EPOCH_ORDINAL)


def reference_day(inp: DetectorInput, today: int) -> int:
    """Last day of the judged window: today, or for a seasonal app the last day of its most
    recent season that has lasted a full window (out of season, or in the first 30 days of
    a season, that is the end of the previous season)."""
    months = inp.app.season_months
    if not months or len(months) == 12:
        return today

    def in_season(day: int) -> bool:
        return day_date(day).month in months

    day = today
    if in_season(day):
        start = day
        while in_season(start - 1):
            start -= 1
        if today - start + 1 >= _MONTH:
            return today
        day = start - 1  # season just began: judge the previous one
    while not in_season(day):
        day -= 1
    return day


def excluded_mask(accounts: list[str], excluded: Set[str]) -> np.ndarray:
    """Boolean per account code: True where the account is not organic."""
    return np.fromiter((a in excluded for a in accounts), dtype=bool, count=len(accounts))


def organic_active_accounts(inp: DetectorInput, excluded: Set[str]) -> dict[str, int | None]:
    """Organic active accounts over the last 1, 7 and 30 days (None when unknown).

    1d and 7d are rolling windows over the raw events when there are any, else local days of
    the rollups; 30d always comes from the rollups (the raw window is shorter).
    """
    out: dict[str, int | None] = {"1d": None, "7d": None, "30d": None}
    ad = inp.account_days
    today = local_day_of(inp.now, inp.app.timezone)
    if len(ad):
        keep = ~excluded_mask(ad.accounts, excluded)[ad.account] & (ad.meaningful > 0)
        for key, n in (("1d", 1), ("7d", 7), ("30d", _MONTH)):
            m = keep & (ad.day > today - n) & (ad.day <= today)
            out[key] = int(np.unique(ad.account[m]).size)
    ev = inp.events
    if len(ev):
        keep = ~excluded_mask(ev.accounts, excluded)[ev.account] & np.isin(ev.type, _MEANINGFUL)
        for key, n in (("1d", 1), ("7d", 7)):
            m = keep & (ev.ts > inp.now - n * DAY) & (ev.ts <= inp.now)
            out[key] = int(np.unique(ev.account[m]).size)
    return out


def measure(inp: DetectorInput, settings: Settings, excluded: Set[str]) -> UsageFacts:
    """Measure the app's usage over its judged window (rollups first, else its snapshot)."""
    today = local_day_of(inp.now, inp.app.timezone)
    ref = reference_day(inp, today)
    ad = inp.account_days
    snap = inp.snapshot

    coverage: float | None = None
    if inp.data_since is not None:
        coverage = max(0.0, (inp.now - inp.data_since) / DAY)
    elif len(ad):
        coverage = float(today - int(ad.day.min()) + 1)
    elif len(inp.events):
        coverage = (inp.now - float(inp.events.ts[0])) / DAY

    days_since_update = None
    if snap is not None:
        updates = [t for t in (snap.last_release_at, snap.last_content_update_at) if t is not None]
        if updates:
            ref_end = inp.now - (today - ref) * DAY
            days_since_update = max(0.0, (ref_end - max(updates)) / DAY)

    mapped, unused = _feature_use(inp, settings, ref)

    if len(ad):
        organic = ~excluded_mask(ad.accounts, excluded)[ad.account]
        in_win = (ad.day > ref - _MONTH) & (ad.day <= ref)
        mean_rows = organic & (ad.meaningful > 0)
        organic_30d = int(np.unique(ad.account[mean_rows & in_win]).size)
        meaningful_30d = int(ad.meaningful[mean_rows & in_win].sum())
        first_day = int(ad.day.min())
        if inp.data_since is not None:
            first_day = min(first_day, local_day_of(inp.data_since, inp.app.timezone))
        base_lo = max(ref - _MONTH - _BASELINE_DAYS, first_day - 1)
        base_days = ref - _MONTH - base_lo
        baseline = None
        if base_days >= settings.trend_min_baseline_days:
            in_base = (ad.day > base_lo) & (ad.day <= ref - _MONTH)
            baseline = float(ad.meaningful[mean_rows & in_base].sum()) * _MONTH / base_days
        past = mean_rows & (ad.day <= ref)
        if past.any():
            since: float = float(ref - int(ad.day[past].max()))
        else:
            # Never a meaningful action in the data we hold: at least that long.
            since = float(ref - first_day + 1)
        active = frozenset(ad.accounts[c] for c in np.unique(ad.account[in_win]).tolist())
        return UsageFacts(
            basis="rollups",
            today=today,
            ref_day=ref,
            coverage_days=coverage,
            organic_30d=organic_30d,
            meaningful_30d=meaningful_30d,
            baseline_per_30d=baseline,
            days_since_meaningful=since,
            active_accounts=active,
            unused_features=unused,
            mapped_features=mapped,
            days_since_update=days_since_update,
        )

    if snap is not None and ref == today:
        # The app's own figures count every active account (check-ins too): a proxy for
        # organic use, hence the lower confidence. Out of season they say nothing.
        since_proxy = None
        if snap.active_accounts_1d:
            since_proxy = 0.0
        elif snap.active_accounts_7d:
            since_proxy = 7.0
        elif snap.active_accounts_30d is not None:
            since_proxy = 7.0 if snap.active_accounts_30d else float(_MONTH)
        return UsageFacts(
            basis="snapshot",
            today=today,
            ref_day=ref,
            coverage_days=coverage,
            organic_30d=snap.active_accounts_30d,
            meaningful_30d=None,
            baseline_per_30d=None,
            days_since_meaningful=since_proxy,
            active_accounts=frozenset(),
            unused_features=unused,
            mapped_features=mapped,
            days_since_update=days_since_update,
        )

    return UsageFacts(
        basis="none",
        today=today,
        ref_day=ref,
        coverage_days=coverage,
        organic_30d=None,
        meaningful_30d=None,
        baseline_per_30d=None,
        days_since_meaningful=None,
        active_accounts=frozenset(),
        unused_features=unused,
        mapped_features=mapped,
        days_since_update=days_since_update,
    )


def _feature_use(
    inp: DetectorInput, settings: Settings, ref: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(declared features we can map to event types, those with no events for N days)."""
    declared = sorted(inp.app.declared_features | _snapshot_features(inp))
    mapped = tuple(f for f in declared if f in settings.feature_event_types)
    if not mapped:
        return (), ()
    lo = ref - settings.unused_feature_days
    hours = inp.app_hours
    if len(hours):
        m = (hours.day > lo) & (hours.day <= ref) & (hours.count > 0)
        seen = {EventType(int(t)).name for t in np.unique(hours.type[m]).tolist()}
    else:
        ad = inp.account_days
        m = (ad.day > lo) & (ad.day <= ref)
        seen = {
            name
            for name, col in (
                ("checkin", ad.checkin),
                ("read", ad.read),
                ("like", ad.like),
                ("study", ad.study),
                ("session_start", ad.session),
            )
            if int(col[m].sum())
        }
        if int(ad.meaningful[m].sum()):
            # Rollups do not split meaningful actions by type: any counts for all three.
            seen |= {t.name for t in MEANINGFUL_TYPES}
    unused = tuple(f for f in mapped if not seen.intersection(settings.feature_event_types[f]))
    return mapped, unused


def _snapshot_features(inp: DetectorInput) -> frozenset[str]:
    return inp.snapshot.features if inp.snapshot is not None else frozenset()


# -- scoring -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetContext:
    """What an app's score needs from the rest of the fleet."""

    median_cost_per_account: float | None
    apps_with_cost: int  # how many apps the median stands on
    peers: dict[str, tuple[str, ...]]  # app -> same region & category apps
    active_accounts: dict[str, frozenset[str]]  # app -> accounts active in its window
    has_account_data: dict[str, bool]


def cost_per_account(inp: DetectorInput, facts: UsageFacts) -> float | None:
    """Annual cost / organic active accounts (at least one, so an unused app is finite)."""
    if inp.app.annual_cost_cny is None or facts.organic_30d is None:
        return None
    return inp.app.annual_cost_cny / max(facts.organic_30d, 1)


def fleet_context(inputs: list[DetectorInput], facts: Mapping[str, UsageFacts]) -> FleetContext:
    """Median cost per organic account (over apps with a known cost) and peer apps."""
    costs = [
        c
        for inp in inputs
        if not inp.app.exempt and (c := cost_per_account(inp, facts[inp.app.id])) is not None
    ]
    median = statistics.median(costs) if costs else None
    groups: dict[tuple[str, str], list[str]] = {}
    for inp in inputs:
        if inp.app.region and inp.app.category:
            groups.setdefault((inp.app.region, inp.app.category), []).append(inp.app.id)
    peers = {
        app: tuple(sorted(p for p in members if p != app))
        for members in groups.values()
        for app in members
    }
    return FleetContext(
        median_cost_per_account=median,
        apps_with_cost=len(costs),
        peers=peers,
        active_accounts={a: f.active_accounts for a, f in facts.items()},
        has_account_data={a: f.basis == "rollups" for a, f in facts.items()},
    )


def _ramp_down(v: float, concern: float, full: float) -> float:
    """0 at/above concern, 1 at/below full (lower is worse)."""
    return min(1.0, max(0.0, (concern - v) / (concern - full)))


def _ramp_up(v: float, concern: float, full: float) -> float:
    """0 at/below concern, 1 at/above full (higher is worse)."""
    return min(1.0, max(0.0, (v - concern) / (full - concern)))


def assess(
    inp: DetectorInput, facts: UsageFacts, settings: Settings, fleet: FleetContext
) -> Assessment:
    """Score one app and give it a band, with the breakdown and readable reasons."""
    s = settings
    w = s.weights
    app = inp.app
    signals: dict[str, Signal] = {}
    reasons: list[Reason] = []

    def put(name: str, value: float | None, threshold: float, share: float, reason: Reason):
        weight = getattr(w, name)
        points = round(weight * share, 2) if value is not None else 0.0
        signals[name] = Signal(
            value=value, threshold=threshold, points=points, weight=weight, rule=reason.rule or ""
        )
        if points > 0:
            reasons.append(reason)

    who = "organic active accounts"
    if facts.basis == "snapshot":
        who = "active accounts (the app's own figure, check-ins included)"

    # reach
    intended = app.intended_users
    if not intended and inp.snapshot is not None:
        intended = inp.snapshot.registered_accounts
    reach = None
    if facts.organic_30d is not None and intended:
        reach = facts.organic_30d / intended
    put(
        "reach",
        reach,
        s.reach_concern,
        _ramp_down(reach, s.reach_concern, s.reach_full) if reach is not None else 0.0,
        Reason(
            code="low_reach",
            text=f"{facts.organic_30d} {who} in 30 days reach {100 * (reach or 0):.1f}% of "
            f"{intended} intended users (concern below {100 * s.reach_concern:.0f}%)",
            value=reach or 0.0,
            threshold=s.reach_concern,
            rule=RULE_LOW_USE,
        ),
    )

    # dormancy
    since = facts.days_since_meaningful
    put(
        "dormancy",
        since,
        s.dormancy_concern_days,
        _ramp_up(since, s.dormancy_concern_days, s.dormancy_full_days) if since is not None else 0,
        Reason(
            code="dormant",
            text=(
                f"no active account for at least {since or 0:.0f} days (the app's own figures)"
                if facts.basis == "snapshot"
                else f"no organic meaningful action for {since or 0:.0f} days"
            )
            + f" (concern after {s.dormancy_concern_days:.0f})",
            value=since or 0.0,
            threshold=s.dormancy_concern_days,
            rule=RULE_LOW_USE,
        ),
    )

    # trend
    trend = None
    if facts.meaningful_30d is not None and facts.baseline_per_30d:
        trend = facts.meaningful_30d / facts.baseline_per_30d
    put(
        "trend",
        trend,
        s.trend_concern,
        _ramp_down(trend, s.trend_concern, s.trend_full) if trend is not None else 0.0,
        Reason(
            code="declining",
            text=f"{facts.meaningful_30d} organic meaningful actions in the last 30 days vs "
            f"{facts.baseline_per_30d or 0:.1f} per 30 days before "
            f"(ratio {trend or 0:.2f}, concern below {s.trend_concern})",
            value=trend or 0.0,
            threshold=s.trend_concern,
            rule=RULE_LOW_USE,
        ),
    )

    # depth
    depth = None
    if facts.meaningful_30d is not None and facts.organic_30d:
        depth = facts.meaningful_30d / facts.organic_30d
    put(
        "depth",
        depth,
        s.depth_concern,
        _ramp_down(depth, s.depth_concern, s.depth_full) if depth is not None else 0.0,
        Reason(
            code="shallow_use",
            text=f"{depth or 0:.1f} meaningful actions per organic account in 30 days "
            f"(concern below {s.depth_concern})",
            value=depth or 0.0,
            threshold=s.depth_concern,
            rule=RULE_LOW_USE,
        ),
    )

    # unused declared features
    unused_share = None
    if facts.mapped_features and facts.basis == "rollups":
        unused_share = len(facts.unused_features) / len(facts.mapped_features)
    put(
        "unused_features",
        unused_share,
        s.unused_concern,
        _ramp_up(unused_share, s.unused_concern, s.unused_full) if unused_share is not None else 0,
        Reason(
            code="unused_features",
            text=f"declared features unused for {s.unused_feature_days} days: "
            f"{', '.join(facts.unused_features)} ({len(facts.unused_features)} of "
            f"{len(facts.mapped_features)})",
            value=unused_share or 0.0,
            threshold=s.unused_concern,
            rule=RULE_LOW_USE,
        ),
    )

    # maintenance
    upd = facts.days_since_update
    put(
        "maintenance",
        upd,
        s.maintenance_concern_days,
        _ramp_up(upd, s.maintenance_concern_days, s.maintenance_full_days)
        if upd is not None
        else 0.0,
        Reason(
            code="unmaintained",
            text=f"no release or content update for {upd or 0:.0f} days "
            f"(concern after {s.maintenance_concern_days:.0f})",
            value=upd or 0.0,
            threshold=s.maintenance_concern_days,
            rule=RULE_ZOMBIE,
        ),
    )

    # redundancy
    peers = fleet.peers.get(app.id, ())
    overlap: float | None = None
    redundant_with: list[str] = []
    if peers:
        mine = fleet.active_accounts.get(app.id, frozenset())
        known = mine and all(fleet.has_account_data.get(p) for p in peers)
        if known:
            shares = {p: len(mine & fleet.active_accounts[p]) / len(mine) for p in peers}
            overlap = max(shares.values())
            redundant_with = [p for p in peers if shares[p] >= s.redundancy_overlap]
        else:
            # Overlap unknown: same region and category is taken to mean the same users.
            redundant_with = list(peers)
    value = (overlap if overlap is not None else 1.0) if peers else 0.0
    put(
        "redundancy",
        value,
        s.redundancy_overlap,
        1.0 if redundant_with else 0.0,
        Reason(
            code="redundant",
            text=f"same region and category as {', '.join(redundant_with)}"
            + (
                f", sharing {100 * overlap:.0f}% of its active accounts"
                if overlap is not None
                else " (account overlap unknown)"
            ),
            value=value,
            threshold=s.redundancy_overlap,
            rule=RULE_CONSOLIDATE,
        ),
    )

    # cost
    cpa = cost_per_account(inp, facts)
    ratio = None
    if (
        cpa is not None
        and fleet.median_cost_per_account
        and fleet.apps_with_cost >= s.cost_min_apps
    ):
        ratio = cpa / fleet.median_cost_per_account
    put(
        "cost",
        ratio,
        s.cost_concern_ratio,
        _ramp_up(ratio, s.cost_concern_ratio, s.cost_full_ratio) if ratio is not None else 0.0,
        Reason(
            code="high_cost",
            text=(
                f"{cpa or 0:,.0f} CNY a year per organic active account"
                if facts.organic_30d
                else f"{cpa or 0:,.0f} CNY a year with no organic active account"
            )
            + f", {ratio or 0:.1f}x the fleet median of {fleet.median_cost_per_account or 0:,.0f} "
            f"per account (concern above {s.cost_concern_ratio}x)",
            value=ratio or 0.0,
            threshold=s.cost_concern_ratio,
            rule=RULE_COST,
        ),
    )

    total = sum(getattr(w, n) for n in SIGNALS)
    measured = sum(sig.weight for sig in signals.values() if sig.value is not None)
    earned = sum(sig.points for sig in signals.values())
    score = round(100.0 * earned / measured, 1) if measured else 0.0
    reasons.sort(key=lambda r: -signals[_SIGNAL_OF_CODE[r.code]].points)

    basis_factor = {"rollups": 1.0, "snapshot": 0.5, "none": 0.0}[facts.basis]
    cover = 1.0 if facts.coverage_days is None else min(1.0, facts.coverage_days / 120.0)
    confidence = round(basis_factor * (measured / total if total else 0.0) * (0.5 + 0.5 * cover), 3)

    band, extra = _band(inp, facts, settings, score)
    if facts.ref_day != facts.today:
        extra.append(
            Reason(
                code="seasonal",
                text=f"seasonal app (months {', '.join(map(str, sorted(app.season_months or ())))}"
                f"): judged on the 30 days to {day_date(facts.ref_day).isoformat()}, "
                "the end of its last season",
                value=float(facts.today - facts.ref_day),
                threshold=0.0,
            )
        )
    if facts.basis == "snapshot":
        extra.append(
            Reason(
                code="snapshot_only",
                text="judged from the app's own usage figures only (no events): lower confidence",
                value=confidence,
                threshold=1.0,
            )
        )
    window_end = inp.now - (facts.today - facts.ref_day) * DAY
    return Assessment(
        app=app.id,
        band=band,
        score=score,
        confidence=confidence,
        reasons=extra + reasons,
        signals=signals,
        basis=facts.basis,
        window_start=window_end - _MONTH * DAY,
        window_end=window_end,
    )


_SIGNAL_OF_CODE = {
    "low_reach": "reach",
    "dormant": "dormancy",
    "declining": "trend",
    "shallow_use": "depth",
    "unused_features": "unused_features",
    "unmaintained": "maintenance",
    "redundant": "redundancy",
    "high_cost": "cost",
}


def _band(
    inp: DetectorInput, facts: UsageFacts, s: Settings, score: float
) -> tuple[str, list[Reason]]:
    """Band from the score, unless the app is exempt or too young / too little data."""
    app = inp.app
    if app.exempt:
        return "exempt", [
            Reason(
                code="exempt",
                text="exempt (security or emergency app): never a shutdown candidate",
                value=1.0,
                threshold=1.0,
            )
        ]
    if app.launched is not None:
        age = (day_date(facts.today) - app.launched).days
        if age < s.min_age_days:
            return "insufficient_data", [
                Reason(
                    code="young_app",
                    text=f"launched {age} days ago (judged from {s.min_age_days})",
                    value=float(age),
                    threshold=float(s.min_age_days),
                )
            ]
    if facts.basis == "none":
        return "insufficient_data", [
            Reason(code="no_data", text="no usage data for the judged window", value=0, threshold=1)
        ]
    if facts.coverage_days is not None and facts.coverage_days < s.min_data_days:
        return "insufficient_data", [
            Reason(
                code="short_data",
                # rounded down: 29.68 days is not "30 days of data"
                text=f"{math.floor(facts.coverage_days * 10) / 10:g} days of data, fewer "
                f"than the {s.min_data_days} needed to judge",
                value=facts.coverage_days,
                threshold=float(s.min_data_days),
            )
        ]
    if facts.basis == "rollups" and facts.ref_day != facts.today:
        first = int(inp.account_days.day.min())
        if facts.ref_day - _MONTH + 1 < first:
            return "insufficient_data", [
                Reason(
                    code="season_not_covered",
                    text=f"its last season ended {facts.today - facts.ref_day} days ago, "
                    "before the data we hold",
                    value=float(facts.ref_day - first),
                    threshold=float(_MONTH),
                )
            ]
    if score >= s.candidate_score:
        return "candidate", []
    if score >= s.review_score:
        return "review", []
    return "keep", []


def assess_fleet(
    inputs: list[DetectorInput],
    settings_for: Callable[[str], Settings],
    excluded_for: Callable[[str, int], Set[str]],
) -> dict[str, Assessment]:
    """Assess every app. `excluded_for(app, n)` gives the accounts flagged by at least n
    forced-usage detectors in that app (not organic)."""
    facts: dict[str, UsageFacts] = {}
    for inp in inputs:
        s = settings_for(inp.app.id)
        facts[inp.app.id] = measure(inp, s, excluded_for(inp.app.id, s.exclude_flagged_by))
    ctx = fleet_context(inputs, facts)
    return {
        inp.app.id: assess(inp, facts[inp.app.id], settings_for(inp.app.id), ctx) for inp in inputs
    }


def assessment_finding(a: Assessment, now: float) -> Finding | None:
    """The Finding for band candidate or review, else None.

    Its id depends on the app and the band only: re-running keeps the same id (the store
    updates the finding and keeps its inspector status) until the band changes.
    """
    kind = FINDING_KIND_BY_BAND.get(a.band)
    if kind is None:
        return None
    top = a.reasons[0].text if a.reasons else ""
    return Finding(
        id=finding_id(kind, a.app, a.band),
        kind=kind,
        app=a.app,
        severity="warning" if a.band == "candidate" else "info",
        score=round(a.score / 100.0, 3),
        window_start=a.window_start,
        window_end=a.window_end,
        summary=f"shutdown score {a.score:.0f}/100 ({a.band}): {top}",
        reasons=list(a.reasons),
        evidence={
            "score": a.score,
            "band": a.band,
            "basis": a.basis,
            "signals": {k: msgspec.structs.asdict(v) for k, v in a.signals.items()},
            "assessed_at": now,
        },
        confidence=a.confidence,
    )
