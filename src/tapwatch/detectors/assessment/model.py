"""What the assessment gives: the score breakdown of one app (what the inspector page shows)."""

from __future__ import annotations

import msgspec

from tapwatch.detectors.base import Reason


class Signal(msgspec.Struct, kw_only=True):
    """One line of the score breakdown. `value` is None when it could not be measured."""

    value: float | None
    threshold: float  # where points start
    points: float
    weight: float
    rule: str  # the policy rule the signal measures against


class Condition(msgspec.Struct, kw_only=True):
    """A sufficient condition that was met: it lifts the score to at least `floor`."""

    code: str  # "shell", "abandoned", "zombie", "unreached" or "redundant_sibling"
    floor: float  # the score it guarantees (candidate_score or review_score)
    band: str  # the band that floor means
    reason: Reason


class Assessment(msgspec.Struct, kw_only=True):
    """The shutdown assessment of one app."""

    app: str
    band: str  # one of BANDS
    score: float  # 0..100: max(additive, the highest floor of a condition met)
    additive: float  # 0..100: points earned over the weight of the measured signals
    confidence: float  # 0..1
    reasons: list[Reason]
    signals: dict[str, Signal]
    conditions: list[Condition]
    basis: str  # "rollups" (account-day rollups), "snapshot" (app's own figures) or "none"
    window_start: float  # epoch seconds: the judged 30-day window
    window_end: float  # = now, or the end of the last season for a seasonal app off-season
    #: siblings doing the same job: [{"sibling", "evidence", "use_ratio"}], busiest first
    siblings: list[dict] = msgspec.field(default_factory=list)
    #: organic active accounts and organic account-days with a meaningful action in the
    #: judged window (None when unknown): what the app is used for, for the fleet's views
    organic_accounts: int | None = None
    organic_account_days: int | None = None
