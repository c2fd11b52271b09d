"""What an app's score needs from the rest of the fleet: the median cost per organic
account, and its siblings (same region and category) that do the same job.

Two apps do the same job when they share their purpose in a way the data can show: most
of their declared features, reports with the same content filed in both, the same units
filing in both, or the same (pseudonymous) accounts active in both.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from tapwatch.detectors.assessment.facts import UsageFacts, snapshot_features
from tapwatch.detectors.assessment.settings import Settings
from tapwatch.detectors.base import DetectorInput
from tapwatch.events import EventType


@dataclass(frozen=True, slots=True)
class AppTraits:
    """What siblings are compared on."""

    app: str
    features: frozenset[str]
    accounts: frozenset[str]  # active in the judged window (rollups only)
    units: frozenset[str]  # units seen in the raw window
    forms: frozenset[str]  # content hashes of forms filed in the raw window
    use: int | None  # organic account-days with a meaningful action in the judged window


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


def traits(inp: DetectorInput, facts: UsageFacts) -> AppTraits:
    ev = inp.events
    filed = (ev.type == int(EventType.form_submit)) & (ev.content_hash >= 0)
    forms = np.unique(ev.content_hash[filed])
    units = np.unique(ev.unit[ev.unit >= 0])
    return AppTraits(
        app=inp.app.id,
        features=inp.app.declared_features | snapshot_features(inp),
        accounts=facts.active_accounts,
        units=frozenset(ev.strings[c] for c in units.tolist()),
        forms=frozenset(ev.strings[c] for c in forms.tolist()),
        use=facts.organic_account_days,
    )


def same_job_evidence(me: AppTraits, other: AppTraits, s: Settings) -> dict[str, float]:
    """The measures that show `other` doing `me`'s job (only those at their threshold)."""
    found: dict[str, float] = {}
    if me.features and other.features:
        jaccard = len(me.features & other.features) / len(me.features | other.features)
        if jaccard >= s.redundancy_feature_similarity:
            found["feature_similarity"] = round(jaccard, 3)
    if me.accounts and other.accounts:
        shared = len(me.accounts & other.accounts) / len(me.accounts)
        if shared >= s.redundancy_overlap:
            found["shared_accounts"] = round(shared, 3)
    if len(me.forms & other.forms) >= s.redundancy_shared_forms:
        found["shared_forms"] = float(len(me.forms & other.forms))
    if me.units:
        shared = len(me.units & other.units) / len(me.units)
        if shared >= s.redundancy_unit_overlap:
            found["shared_units"] = round(shared, 3)
    return found


def describe(evidence: dict[str, float]) -> str:
    """Same-job evidence in words, e.g. "75% of its accounts, 4 forms filed in both"."""
    words = {
        "feature_similarity": lambda v: f"declared features {100 * v:.0f}% alike",
        "shared_accounts": lambda v: f"{100 * v:.0f}% of its accounts",
        "shared_forms": lambda v: f"{v:.0f} forms filed in both",
        "shared_units": lambda v: f"{100 * v:.0f}% of its units",
    }
    return ", ".join(words[k](v) for k, v in evidence.items())


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
        if len(members) < 2:
            continue
        by_app = {m.app.id: traits(m, facts[m.app.id]) for m in members}
        for me in by_app.values():
            s = settings_for(me.app)
            found = []
            for other in by_app.values():
                if other.app == me.app or not (ev := same_job_evidence(me, other, s)):
                    continue
                ratio = None
                if me.use is not None and other.use:
                    ratio = round(me.use / other.use, 4)
                found.append(SameJob(other.app, ev, ratio))
            # busiest sibling first: the one this app's users would move to
            found.sort(key=lambda j: (j.use_ratio if j.use_ratio is not None else 2.0, j.sibling))
            if found:
                same_job[me.app] = tuple(found)
    return FleetContext(
        median_cost_per_account=statistics.median(costs) if costs else None,
        apps_with_cost=len(costs),
        same_job=same_job,
    )
