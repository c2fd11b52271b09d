"""Consolidation: apps in one region that serve the same people for the same job.

The 2023 Opinions ask to consolidate apps and work groups with similar or duplicate
functions and to report the same item once, through a one-stop platform or "one table";
one district cut 19 platforms to 10. Each app may look healthy alone; together they make
the same officials keep two or three apps for one job.

Within a region, two apps overlap when

* their **users** overlap: at least `min_user_overlap` of the smaller app's active
  accounts (last 30 days) are also active in the other, and at least
  `min_shared_accounts` of them (pseudonyms are keyed on the raw id, so one official is
  the same pseudonym in every app); and
* their **function** overlaps: the same registry category (the registry's own statement
  of what an app is for), or the same form contents filed in both (same_job.py: one item
  reported twice). Declared features and shared units are not enough across categories:
  feature lists are short and generic ("articles", "forms"), and every unit uses many apps.

Overlapping apps are joined into groups (connected components). One cross-app finding per
group, filed under the app to keep: the one with the most real use (organic account-days
with a meaningful action in the assessment's window), then the most organic accounts, then
the lower cost. It gives the overlap of every pair, the combined annual cost and what
merging the others would save. Exempt apps are left out. Runs after the assessment (it
needs each app's organic use): `detect_assessed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.assessment import Assessment
from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.same_job import (
    AppTraits,
    JobRule,
    active_accounts,
    describe,
    same_job_evidence,
    traits,
)
from tapwatch.detectors.stats import connected_groups, shared_member_counts
from tapwatch.window import DAY

KIND = "consolidation"
RULE = (
    "2023 Opinions: consolidate apps with similar or duplicate functions; report once "
    "through a one-stop platform ('one table')"
)


class Settings(BaseModel):
    """consolidation settings (config `detectors: consolidation:`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_user_overlap: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Share of the smaller app's active accounts (30 days) also active in the "
        "other at which two apps serve the same users.",
    )
    min_shared_accounts: int = Field(
        10, ge=1, description="Active accounts the two apps must share, at least."
    )
    shared_forms: int = Field(
        3, ge=1, description="Form contents filed in both (raw window) that show the same job."
    )


def _overlap(a: AppTraits, b: AppTraits, same_category: bool, st: Settings) -> dict | None:
    """The pair's overlap (users and function), or None when they do not overlap."""
    small, large = (a, b) if len(a.accounts) <= len(b.accounts) else (b, a)
    shared = len(small.accounts & large.accounts)
    if not small.accounts or shared < st.min_shared_accounts:
        return None
    users = shared / len(small.accounts)
    if users < st.min_user_overlap:
        return None
    # forms only (users are shown above): similarities above 1 can never be reached
    rule = JobRule(feature_similarity=2.0, shared_forms=st.shared_forms, unit_overlap=2.0,
                   account_overlap=2.0)
    function = same_job_evidence(small, large, rule)
    if same_category:
        function = {"same_category": 1.0, **function}
    if not function:
        return None
    return {
        "apps": sorted((a.app, b.app)),
        "shared_accounts": shared,
        "user_overlap": round(users, 4),
        "function": function,
    }


def _candidate_pairs(
    apps: Mapping[str, DetectorInput],
    tr: Mapping[str, AppTraits],
    settings_for: Callable[[str], Settings],
) -> list[tuple[str, str]]:
    """Pairs that serve the same users (`_overlap`'s thresholds) and whose function can
    overlap: the same category, or form contents filed in both. The shared users are
    counted through an index of accounts, not by trying every pair (a region can hold
    thousands of apps, a category hundreds); the forms only of the few pairs left."""
    names = sorted(tr)
    settings = [settings_for(a) for a in names]
    first, second, shared = shared_member_counts([tr[a].accounts for a in names])
    size = np.array([len(tr[a].accounts) for a in names], dtype=np.int64)
    need = np.array([s.min_shared_accounts for s in settings], dtype=np.int64)
    share = np.array([s.min_user_overlap for s in settings], dtype=np.float64)
    ok = (shared >= need[first]) & (
        shared / np.minimum(size[first], size[second]) >= share[first]
    )
    pairs = []
    for i, j in zip(first[ok].tolist(), second[ok].tolist(), strict=True):
        a, b = names[i], names[j]
        category = apps[a].app.category
        if (category and category == apps[b].app.category) or (
            len(tr[a].forms & tr[b].forms) >= settings[i].shared_forms
        ):
            pairs.append((a, b))
    return pairs


def detect_assessed(
    inputs: list[DetectorInput],
    settings_for: Callable[[str], Settings],
    assessments: Mapping[str, Assessment],
) -> list[Finding]:
    """One finding per group of overlapping apps in a region (module docstring)."""
    by_region: dict[str, list[DetectorInput]] = {}
    for inp in inputs:
        if inp.app.region and not inp.app.exempt:
            by_region.setdefault(inp.app.region, []).append(inp)
    findings = []
    for region, members in sorted(by_region.items()):
        if len(members) < 2:
            continue
        apps = {m.app.id: m for m in members}
        tr = {a: traits(m, active_accounts(m)) for a, m in apps.items()}
        edges = [
            e
            for a, b in _candidate_pairs(apps, tr, settings_for)
            if (e := _overlap(tr[a], tr[b], apps[a].app.category == apps[b].app.category
                              and bool(apps[a].app.category), settings_for(a))) is not None
        ]
        for group in connected_groups(tuple(e["apps"]) for e in edges):
            pairs = [e for e in edges if e["apps"][0] in group]
            findings.append(
                _finding(region, group, pairs, apps, tr, assessments, settings_for(group[0]))
            )
    return findings


def _keep_order(app: str, inputs: Mapping[str, DetectorInput],
                assessments: Mapping[str, Assessment]) -> tuple:
    a = assessments.get(app)
    cost = inputs[app].app.annual_cost_cny
    return (
        -((a.organic_account_days or 0) if a else 0),
        -((a.organic_accounts or 0) if a else 0),
        cost if cost is not None else float("inf"),
        app,
    )


def _finding(
    region: str,
    group: list[str],
    pairs: list[dict],
    inputs: Mapping[str, DetectorInput],
    tr: Mapping[str, AppTraits],
    assessments: Mapping[str, Assessment],
    st: Settings,
) -> Finding:
    keep = min(group, key=lambda a: _keep_order(a, inputs, assessments))
    merge = [a for a in group if a != keep]
    costs = {a: inputs[a].app.annual_cost_cny for a in group}
    known = [c for c in costs.values() if c is not None]
    saving = sum(c for a, c in costs.items() if a != keep and c is not None)
    overlaps = [p["user_overlap"] for p in pairs]
    every = frozenset.intersection(*(tr[a].accounts for a in group))
    anyone = frozenset.union(*(tr[a].accounts for a in group))
    use = {
        a: {
            "organic_account_days": (x := assessments.get(a)) and x.organic_account_days,
            "organic_accounts": x and x.organic_accounts,
            "band": x and x.band,
            "annual_cost_cny": costs[a],
        }
        for a in group
    }
    closest = max(pairs, key=lambda p: (p["user_overlap"], p["apps"]))
    now = max(inputs[a].now for a in group)
    names = ", ".join(group[:-1]) + f" and {group[-1]}"
    return Finding(
        id=finding_id(KIND, *group),
        kind=KIND,
        app=keep,
        apps=[keep, *merge],
        severity="warning",
        score=round(max(overlaps), 3),
        window_start=now - 30 * DAY,
        window_end=now,
        summary=f"{names} in {region} serve the same users "
        f"({100 * min(overlaps):.0f}-{100 * max(overlaps):.0f}% shared) for the same job "
        f"({describe(closest['function'])}): combined "
        f"cost {sum(known):,.0f} CNY a year; keep {keep} (most real use), merge "
        f"{', '.join(merge)} (saving up to {saving:,.0f} CNY a year)",
        reasons=[
            Reason(
                code="shared_users",
                text="Share of the smaller app's active accounts also active in the other "
                "(the largest pair).",
                value=round(max(overlaps), 4),
                threshold=st.min_user_overlap,
                rule=RULE,
            ),
            Reason(
                code="apps_in_group",
                text=f"Apps in {region} doing one job for the same people.",
                value=float(len(group)),
                threshold=2.0,
                rule=RULE,
            ),
        ],
        evidence={
            "region": region,
            "apps": group,
            "keep": keep,
            "merge": merge,
            "pairs": pairs,
            "combined_annual_cost_cny": sum(known),
            "cost_unknown": sorted(a for a, c in costs.items() if c is None),
            "saving_cny": saving,
            "use": use,
            "accounts_in_any": len(anyone),
            "accounts_in_all": len(every),
        },
        confidence=1.0 if len(known) == len(group) else 0.8,
    )

