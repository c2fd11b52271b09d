"""The eight signals: each a measured value against thresholds from the settings, worth up
to its weight in points. One function per signal; each returns what it measured, the share
of its weight it earns (0..1) and a readable reason with the numbers."""

from __future__ import annotations

from dataclasses import dataclass

from tapwatch.detectors.assessment.facts import UsageFacts
from tapwatch.detectors.assessment.fleet import FleetContext, cost_per_account
from tapwatch.detectors.assessment.settings import (
    RULE_CONSOLIDATE,
    RULE_COST,
    RULE_LOW_USE,
    RULE_ZOMBIE,
    Settings,
)
from tapwatch.detectors.base import DetectorInput, Reason
from tapwatch.detectors.same_job import describe


@dataclass(frozen=True, slots=True)
class Measured:
    name: str  # the signal, one of SIGNALS
    value: float | None  # None: could not be measured (earns nothing, weighs nothing)
    threshold: float
    share: float  # of the signal's weight earned, 0..1
    reason: Reason


def ramp_down(v: float, concern: float, full: float) -> float:
    """0 at/above concern, 1 at/below full (lower is worse)."""
    return min(1.0, max(0.0, (concern - v) / (concern - full)))


def ramp_up(v: float, concern: float, full: float) -> float:
    """0 at/below concern, 1 at/above full (higher is worse)."""
    return min(1.0, max(0.0, (v - concern) / (full - concern)))


def intended_users(inp: DetectorInput) -> int | None:
    intended = inp.app.intended_users
    if not intended and inp.snapshot is not None:
        intended = inp.snapshot.registered_accounts
    return intended or None


def reach(inp: DetectorInput, f: UsageFacts, s: Settings) -> Measured:
    intended = intended_users(inp)
    value = f.organic_30d / intended if f.organic_30d is not None and intended else None
    who = "organic active accounts"
    if f.basis == "snapshot":
        who = "active accounts (the app's own figure, check-ins included)"
    return Measured(
        "reach", value, s.reach_concern,
        ramp_down(value, s.reach_concern, s.reach_full) if value is not None else 0.0,
        Reason(
            code="low_reach",
            text=f"{f.organic_30d} {who} in 30 days reach {100 * (value or 0):.1f}% of "
            f"{intended} intended users (concern below {100 * s.reach_concern:.0f}%)",
            value=value or 0.0, threshold=s.reach_concern, rule=RULE_LOW_USE,
        ),
    )


def dormancy(f: UsageFacts, s: Settings) -> Measured:
    since = f.days_since_meaningful
    text = (
        f"no active account for at least {since or 0:.0f} days (the app's own figures)"
        if f.basis == "snapshot"
        else f"no organic meaningful action for {since or 0:.0f} days"
    )
    return Measured(
        "dormancy", since, s.dormancy_concern_days,
        ramp_up(since, s.dormancy_concern_days, s.dormancy_full_days) if since is not None else 0,
        Reason(
            code="dormant", text=text + f" (concern after {s.dormancy_concern_days:.0f})",
            value=since or 0.0, threshold=s.dormancy_concern_days, rule=RULE_LOW_USE,
        ),
    )


def decline(f: UsageFacts, s: Settings) -> Measured:
    p = f.past
    value = p.ratio if p is not None else None
    against = "its busiest 30 days" if p is None or p.basis == "peak" else "a year earlier"
    return Measured(
        "decline", value, s.decline_concern,
        ramp_down(value, s.decline_concern, s.decline_full) if value is not None else 0.0,
        Reason(
            code="declining",
            text=f"{p.level if p else 0} account-days with a meaningful action in the judged "
            f"30 days against {p.baseline if p else 0:.0f} in {against} (ratio "
            f"{value or 0:.2f}, concern below {s.decline_concern})",
            value=value or 0.0, threshold=s.decline_concern, rule=RULE_LOW_USE,
        ),
    )


def depth(f: UsageFacts, s: Settings) -> Measured:
    value = None
    if f.meaningful_30d is not None and f.organic_30d:
        value = f.meaningful_30d / f.organic_30d
    return Measured(
        "depth", value, s.depth_concern,
        ramp_down(value, s.depth_concern, s.depth_full) if value is not None else 0.0,
        Reason(
            code="shallow_use",
            text=f"{value or 0:.1f} meaningful actions per organic account in 30 days "
            f"(concern below {s.depth_concern})",
            value=value or 0.0, threshold=s.depth_concern, rule=RULE_LOW_USE,
        ),
    )


def unused_features(f: UsageFacts, s: Settings) -> Measured:
    value = None
    if f.mapped_features and f.basis == "rollups":
        value = len(f.unused_features) / len(f.mapped_features)
    return Measured(
        "unused_features", value, s.unused_concern,
        ramp_up(value, s.unused_concern, s.unused_full) if value is not None else 0.0,
        Reason(
            code="unused_features",
            text=f"declared features unused for {s.unused_feature_days} days: "
            f"{', '.join(f.unused_features)} ({len(f.unused_features)} of "
            f"{len(f.mapped_features)})",
            value=value or 0.0, threshold=s.unused_concern, rule=RULE_LOW_USE,
        ),
    )


def maintenance(f: UsageFacts, s: Settings) -> Measured:
    upd = f.days_since_update
    return Measured(
        "maintenance", upd, s.maintenance_concern_days,
        ramp_up(upd, s.maintenance_concern_days, s.maintenance_full_days)
        if upd is not None
        else 0.0,
        Reason(
            code="unmaintained",
            text=f"no release or content update for {upd or 0:.0f} days "
            f"(concern after {s.maintenance_concern_days:.0f})",
            value=upd or 0.0, threshold=s.maintenance_concern_days, rule=RULE_ZOMBIE,
        ),
    )


def redundancy(inp: DetectorInput, fleet: FleetContext, s: Settings) -> Measured:
    """1 when a sibling (same region and category) does the same job, else 0."""
    jobs = fleet.same_job.get(inp.app.id, ())
    text = "same region and category as, and doing the job of, " + "; ".join(
        f"{j.sibling} ({describe(j.evidence)})" for j in jobs
    )
    return Measured(
        "redundancy", 1.0 if jobs else 0.0, 1.0, 1.0 if jobs else 0.0,
        Reason(code="redundant", text=text, value=float(len(jobs)), threshold=1.0,
               rule=RULE_CONSOLIDATE),
    )


def cost(inp: DetectorInput, f: UsageFacts, fleet: FleetContext, s: Settings) -> Measured:
    cpa = cost_per_account(inp, f)
    median = fleet.median_cost_per_account
    value = None
    if cpa is not None and median and fleet.apps_with_cost >= s.cost_min_apps:
        value = cpa / median
    head = (
        f"{cpa or 0:,.0f} CNY a year per organic active account"
        if f.organic_30d
        else f"{cpa or 0:,.0f} CNY a year with no organic active account"
    )
    return Measured(
        "cost", value, s.cost_concern_ratio,
        ramp_up(value, s.cost_concern_ratio, s.cost_full_ratio) if value is not None else 0.0,
        Reason(
            code="high_cost",
            text=head + f", {value or 0:.1f}x the fleet median of {median or 0:,.0f} per "
            f"account (concern above {s.cost_concern_ratio}x)",
            value=value or 0.0, threshold=s.cost_concern_ratio, rule=RULE_COST,
        ),
    )


def measure_signals(
    inp: DetectorInput, f: UsageFacts, fleet: FleetContext, s: Settings
) -> list[Measured]:
    """Every signal, in SIGNALS order."""
    return [
        reach(inp, f, s),
        dormancy(f, s),
        decline(f, s),
        depth(f, s),
        unused_features(f, s),
        maintenance(f, s),
        redundancy(inp, fleet, s),
        cost(inp, f, fleet, s),
    ]
