"""Guard rails: the band follows the score, except for apps that must not be judged on it.

* exempt (security and emergency) apps are scored for the inspector but never banded;
* apps launched under `min_age_days` ago, with under `min_data_days` of data, with no
  data at all, or whose last season ended before the data we hold: insufficient_data;
* a seasonal app out of season is judged on its last season (facts.reference_day), not
  on its idle months;
* an app used by at least `well_used_reach` of its intended users (a small specialist app
  used by most of the few it serves) is never a candidate: at most review.
"""

from __future__ import annotations

import math

from tapwatch.detectors.assessment.facts import MONTH, UsageFacts, day_date
from tapwatch.detectors.assessment.settings import Settings
from tapwatch.detectors.base import DetectorInput, Reason


def _not_judged(inp: DetectorInput, facts: UsageFacts, s: Settings) -> tuple[str, Reason] | None:
    """The band and reason when the score must not decide (exempt, too little data)."""
    app = inp.app
    if app.exempt:
        return "exempt", Reason(
            code="exempt", text="exempt (security or emergency app): never a shutdown candidate",
            value=1.0, threshold=1.0,
        )
    if app.launched is not None:
        age = (day_date(facts.today) - app.launched).days
        if age < s.min_age_days:
            return "insufficient_data", Reason(
                code="young_app", text=f"launched {age} days ago (judged from {s.min_age_days})",
                value=float(age), threshold=float(s.min_age_days),
            )
    if facts.basis == "none":
        return "insufficient_data", Reason(
            code="no_data", text="no usage data for the judged window", value=0, threshold=1
        )
    if facts.coverage_days is not None and facts.coverage_days < s.min_data_days:
        return "insufficient_data", Reason(
            code="short_data",
            # rounded down: 29.68 days is not "30 days of data"
            text=f"{math.floor(facts.coverage_days * 10) / 10:g} days of data, fewer "
            f"than the {s.min_data_days} needed to judge",
            value=facts.coverage_days, threshold=float(s.min_data_days),
        )
    if facts.basis == "rollups" and facts.ref_day != facts.today:
        first = int(inp.account_days.day.min())
        if facts.ref_day - MONTH + 1 < first:
            return "insufficient_data", Reason(
                code="season_not_covered",
                text=f"its last season ended {facts.today - facts.ref_day} days ago, "
                "before the data we hold",
                value=float(facts.ref_day - first), threshold=float(MONTH),
            )
    return None


def band(
    inp: DetectorInput, facts: UsageFacts, s: Settings, score: float, reach: float | None
) -> tuple[str, list[Reason]]:
    """The band, and the guard-rail reasons to show before the score's own."""
    held = _not_judged(inp, facts, s)
    if held is not None:
        return held[0], [held[1]]
    extra: list[Reason] = []
    if score >= s.candidate_score:
        if reach is not None and reach >= s.well_used_reach:
            extra.append(Reason(
                code="well_used",
                text=f"used by {100 * reach:.0f}% of its intended users: never a candidate "
                f"(at least {100 * s.well_used_reach:.0f}%), at most review",
                value=round(reach, 4), threshold=s.well_used_reach,
            ))
            return "review", extra
        return "candidate", extra
    if score >= s.review_score:
        return "review", extra
    return "keep", extra
