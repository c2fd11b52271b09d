"""How the signals combine into one score.

An additive score alone needs every signal to agree: a check-in app that almost nobody uses
for real and that costs tens of times the fleet's median per real user still scores about
50 when it is maintained and has no sibling. But some findings are enough by themselves.
So the score is the larger of

* the **additive evidence**: points earned over the weight of the signals that could be
  measured, x 100 (how much points towards shutdown overall), and
* the **floor** of the strongest *sufficient condition* met:

  - `shell`: reach at or below `reach_full` (a few % of intended users) **and** cost per
    organic account at or above `cost_full_ratio` x the fleet median -> candidate;
  - `abandoned`: use fell to `abandoned_ratio` of its own past (its peak, or a year
    earlier for a seasonal app) or less, **and** reach is below `reach_concern` -> candidate;
  - `zombie`: no organic meaningful action for `dormancy_full_days` or more -> candidate;
  - `unreached`: reach at or below `reach_full`, alone -> review (worth a human look even
    when the app costs little);
  - `redundant_sibling`: a sibling (same region and category) does the same job with at
    least 1 / `redundancy_use_ratio` times this app's use -> review, naming the sibling.

Each condition pairs two independent facts (or one that cannot happen by chance), so a
single noisy measure cannot make a candidate. The guard rails (guard_rails.py) still
decide last.
"""

from __future__ import annotations

from tapwatch.detectors.assessment.facts import UsageFacts
from tapwatch.detectors.assessment.fleet import FleetContext
from tapwatch.detectors.assessment.model import Condition, Signal
from tapwatch.detectors.assessment.settings import (
    RULE_CONSOLIDATE,
    RULE_COST,
    RULE_LOW_USE,
    RULE_ZOMBIE,
    Settings,
)
from tapwatch.detectors.assessment.signals import Measured
from tapwatch.detectors.base import DetectorInput, Reason
from tapwatch.detectors.same_job import describe


def additive_score(measured: list[Measured], s: Settings) -> tuple[float, dict[str, Signal]]:
    """(points earned / measured weight x 100, the breakdown per signal)."""
    signals: dict[str, Signal] = {}
    for m in measured:
        weight = getattr(s.weights, m.name)
        signals[m.name] = Signal(
            value=m.value,
            threshold=m.threshold,
            points=round(weight * m.share, 2) if m.value is not None else 0.0,
            weight=weight,
            rule=m.reason.rule or "",
        )
    weight = sum(sig.weight for sig in signals.values() if sig.value is not None)
    earned = sum(sig.points for sig in signals.values())
    return (round(100.0 * earned / weight, 1) if weight else 0.0), signals


def conditions(
    inp: DetectorInput, f: UsageFacts, by_name: dict[str, Measured], fleet: FleetContext,
    s: Settings,
) -> list[Condition]:
    """The sufficient conditions met, strongest floor first."""
    reach = by_name["reach"].value
    cost = by_name["cost"].value
    ratio = by_name["decline"].value
    since = by_name["dormancy"].value
    out: list[Condition] = []

    def met(code: str, band: str, text: str, value: float, threshold: float, rule: str) -> None:
        floor = s.candidate_score if band == "candidate" else s.review_score
        out.append(Condition(code=code, floor=floor, band=band, reason=Reason(
            code=code, text=text, value=round(value, 4), threshold=threshold, rule=rule)))

    if reach is not None and cost is not None and reach <= s.reach_full and (
        cost >= s.cost_full_ratio
    ):
        met("shell", "candidate",
            f"organic use by {100 * reach:.1f}% of intended users at {cost:.0f}x the fleet's "
            f"median cost per organic account: an empty shell whatever else it shows",
            cost, s.cost_full_ratio, RULE_COST)
    if ratio is not None and reach is not None and ratio <= s.abandoned_ratio and (
        reach < s.reach_concern
    ):
        p = f.past
        assert p is not None
        met("abandoned", "candidate",
            f"use fell to {100 * ratio:.0f}% of "
            f"{'its busiest 30 days' if p.basis == 'peak' else 'the same days a year earlier'}"
            f" ({p.level} against {p.baseline:.0f} account-days with a meaningful action): "
            "its users have left", ratio, s.abandoned_ratio, RULE_LOW_USE)
    if f.basis == "rollups" and since is not None and since >= s.dormancy_full_days:
        met("zombie", "candidate",
            f"no organic meaningful action for {since:.0f} days", since, s.dormancy_full_days,
            RULE_ZOMBIE)
    if reach is not None and reach <= s.reach_full:
        met("unreached", "review",
            f"real use by {100 * reach:.1f}% of intended users in 30 days",
            reach, s.reach_full, RULE_LOW_USE)
    jobs = fleet.same_job.get(inp.app.id, ())
    small = [j for j in jobs if j.use_ratio is not None and j.use_ratio <= s.redundancy_use_ratio]
    if small:
        j = small[0]
        met("redundant_sibling", "review",
            f"{j.sibling} does the same job in the same region with "
            f"{1 / max(j.use_ratio, 1e-9):.0f}x this app's use "
            f"({describe(j.evidence)}): consolidate",
            j.use_ratio, s.redundancy_use_ratio, RULE_CONSOLIDATE)
    out.sort(key=lambda c: -c.floor)
    return out


def combined_score(additive: float, met: list[Condition]) -> float:
    """The additive evidence, lifted to the highest floor of a condition met."""
    return max([additive, *(c.floor for c in met)])
