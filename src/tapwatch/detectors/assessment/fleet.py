"""What an app's score needs from the rest of the fleet: the median cost per organic
account, and its siblings (same region and category) that do the same job (same_job.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from tapwatch.detectors.assessment.facts import UsageFacts
from tapwatch.detectors.assessment.settings import Settings
from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.same_job import JobRule, evidence_between, traits
from tapwatch.detectors.stats import rounded


@dataclass(frozen=True, slots=True)
class SameJob:
    """One sibling doing the same job as the app, and what shows it."""

    sibling: str
    evidence: dict[str, float]  # feature_similarity, shared_accounts, shared_forms, shared_units
    use_ratio: float | None  # the app's use / the sibling's (None: unknown)


@dataclass(frozen=True, slots=True)
class FleetContext:
    median_cost_per_account: float | None
    apps_with_cost: int  # how many apps the median stands on
    same_job: dict[str, tuple[SameJob, ...]]  # app -> siblings doing its job, busiest first


def cost_per_account(inp: DetectorInput, facts: UsageFacts) -> float | None:
    """Annual cost / organic active accounts (at least one, so an unused app is finite)."""
    if inp.app.annual_cost_cny is None or facts.organic_30d is None:
        return None
    return inp.app.annual_cost_cny / max(facts.organic_30d, 1)


def _rule(s: Settings) -> JobRule:
    return JobRule(
        feature_similarity=s.redundancy_feature_similarity,
        shared_forms=s.redundancy_shared_forms,
        unit_overlap=s.redundancy_unit_overlap,
        account_overlap=s.redundancy_overlap,
    )


def _siblings_doing_its_job(
    members: list[DetectorInput],
    facts: Mapping[str, UsageFacts],
    settings_for: Callable[[str], Settings],
) -> dict[str, tuple[SameJob, ...]]:
    """Within one region and category: app -> the others doing its job, busiest first."""
    by_app = [traits(m, facts[m.app.id].active_accounts) for m in members]
    evidence = evidence_between(by_app, [_rule(settings_for(t.app)) for t in by_app])
    # use ratios of every pair at once (counts below 2**53: the quotient Python's int / int
    # gives), rounded as Python's round does; None where either use is unknown or 0
    use = [facts[t.app].organic_account_days for t in by_app]
    known = np.array([u is not None for u in use])
    counts = np.array([u or 0 for u in use], dtype=np.float64)
    first = np.fromiter((i for i, _ in evidence), dtype=np.int64, count=len(evidence))
    second = np.fromiter((j for _, j in evidence), dtype=np.int64, count=len(evidence))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rounded(counts[first] / counts[second], 4)
    has = (known[first] & known[second] & (counts[second] > 0)).tolist()
    found: dict[str, list[SameJob]] = {}
    for (i, j), ev, r, ok in zip(evidence, evidence.values(), ratio.tolist(), has, strict=True):
        found.setdefault(by_app[i].app, []).append(SameJob(by_app[j].app, ev, r if ok else None))
    out: dict[str, tuple[SameJob, ...]] = {}
    for me in by_app:
        if jobs := found.get(me.app):
            # busiest sibling first: the one this app's users would move to
            jobs.sort(key=lambda j: (j.use_ratio if j.use_ratio is not None else 2.0, j.sibling))
            out[me.app] = tuple(jobs)
    return out


def fleet_context(
    inputs: list[DetectorInput],
    facts: Mapping[str, UsageFacts],
    settings_for: Callable[[str], Settings],
) -> FleetContext:
    """Median cost per organic account (over non-exempt apps with a known cost) and, per
    app, the siblings that do its job."""
    costs = [
        c
        for inp in inputs
        if not inp.app.exempt and (c := cost_per_account(inp, facts[inp.app.id])) is not None
    ]
    groups: dict[tuple[str, str], list[DetectorInput]] = {}
    for inp in inputs:
        if inp.app.region and inp.app.category:
            groups.setdefault((inp.app.region, inp.app.category), []).append(inp)
    same_job: dict[str, tuple[SameJob, ...]] = {}
    for members in groups.values():
        if len(members) > 1:
            same_job |= _siblings_doing_its_job(members, facts, settings_for)
    return FleetContext(
        median_cost_per_account=statistics.median(costs) if costs else None,
        apps_with_cost=len(costs),
        same_job=same_job,
    )
