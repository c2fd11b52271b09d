"""One app's assessment from its facts, signals, combination and guard rails; the fleet's;
and the Finding an inspector sees for band candidate or review."""

from __future__ import annotations

from collections.abc import Callable, Set

import msgspec

from tapwatch.detectors.assessment.combination import additive_score, combined_score, conditions
from tapwatch.detectors.assessment.facts import MONTH, UsageFacts, day_date, measure
from tapwatch.detectors.assessment.fleet import FleetContext, fleet_context
from tapwatch.detectors.assessment.guard_rails import band
from tapwatch.detectors.assessment.model import Assessment
from tapwatch.detectors.assessment.settings import FINDING_KIND_BY_BAND, SIGNALS, Settings
from tapwatch.detectors.assessment.signals import measure_signals
from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.window import DAY

_FULL_COVERAGE_DAYS = 120.0  # data history at which confidence stops growing


def assess(
    inp: DetectorInput, facts: UsageFacts, settings: Settings, fleet: FleetContext
) -> Assessment:
    """Score one app and give it a band, with the breakdown and readable reasons."""
    s = settings
    measured = measure_signals(inp, facts, fleet, s)
    by_name = {m.name: m for m in measured}
    additive, signals = additive_score(measured, s)
    met = conditions(inp, facts, by_name, fleet, s)
    score = combined_score(additive, met)
    app_band, guards = band(inp, facts, s, score, by_name["reach"].value)

    earned = sorted(
        (m for m in measured if signals[m.name].points > 0),
        key=lambda m: -signals[m.name].points,
    )
    reasons = guards + [c.reason for c in met] + [m.reason for m in earned]
    if facts.ref_day != facts.today:
        months = ", ".join(map(str, sorted(inp.app.season_months or ())))
        reasons.insert(len(guards), Reason(
            code="seasonal",
            text=f"seasonal app (months {months}): judged on the 30 days to "
            f"{day_date(facts.ref_day).isoformat()}, the end of its last season",
            value=float(facts.today - facts.ref_day), threshold=0.0,
        ))
    total = sum(getattr(s.weights, n) for n in SIGNALS)
    weight = sum(sig.weight for sig in signals.values() if sig.value is not None)
    basis_factor = {"rollups": 1.0, "snapshot": 0.5, "none": 0.0}[facts.basis]
    cover = 1.0
    if facts.coverage_days is not None:
        cover = min(1.0, facts.coverage_days / _FULL_COVERAGE_DAYS)
    confidence = round(basis_factor * (weight / total if total else 0.0) * (0.5 + 0.5 * cover), 3)
    if facts.basis == "snapshot":
        reasons.insert(0, Reason(
            code="snapshot_only",
            text="judged from the app's own usage figures only (no events): lower confidence",
            value=confidence, threshold=1.0,
        ))
    window_end = inp.now - (facts.today - facts.ref_day) * DAY
    return Assessment(
        app=inp.app.id,
        band=app_band,
        score=score,
        additive=additive,
        confidence=confidence,
        reasons=reasons,
        signals=signals,
        conditions=met,
        basis=facts.basis,
        window_start=window_end - MONTH * DAY,
        window_end=window_end,
        siblings=[
            {"sibling": j.sibling, "evidence": j.evidence, "use_ratio": j.use_ratio}
            for j in fleet.same_job.get(inp.app.id, ())
        ],
        organic_accounts=facts.organic_30d,
        organic_account_days=facts.organic_account_days,
    )


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
    ctx = fleet_context(inputs, facts, settings_for)
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
            "additive_score": a.additive,
            "band": a.band,
            "basis": a.basis,
            "signals": {k: msgspec.structs.asdict(v) for k, v in a.signals.items()},
            "conditions": [c.code for c in a.conditions],
            "siblings": a.siblings,
            "assessed_at": now,
        },
        confidence=a.confidence,
    )
