"""Banned features: check-in, points rankings and online-duration counters.

The Jan 2026 Measures for the Standardised Management of Government Mobile Apps ban them
(security and emergency apps, `AppProfile.exempt`, excepted). A feature is found where the
registry declares it, where the app's own usage figures list it, or in its events: check-in
events show a check-in feature; study events that credit time show an online-duration
counter (the "500 study hours"). Plain session durations are telemetry every app has, not a
counter shown to users, so they are not evidence. Rankings leave no event of their own, so
they are found only where declared.

One finding per app and banned feature, id stable per (app, feature).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.events import EventType

KIND = "banned_feature"
RULE = (
    "2026 management measures: no check-in, points ranking or online-duration features "
    "(security and emergency apps excepted)"
)
#: The banned features (bounded: these are metric label values).
FEATURES = ("checkin", "points_ranking", "online_duration")

_DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "checkin": ("checkin", "check_in", "sign_in", "daily_checkin", "photo_checkin"),
    "points_ranking": ("points_ranking", "points", "ranking", "leaderboard", "scoreboard"),
    "online_duration": ("online_duration", "study_hours", "study_time", "online_time"),
}


class Settings(BaseModel):
    """banned_feature settings (config `detectors: banned_feature:`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(_DEFAULT_ALIASES),
        description="Banned feature -> the declared feature names that mean it "
        f"(keys among {', '.join(FEATURES)}).",
    )
    min_events: int = Field(
        3, ge=1, description="Events in the raw window needed to call a feature seen in use."
    )
    count_study_time: bool = Field(
        True, description="Study events that credit time count as an online-duration counter."
    )
    example_events: int = Field(20, ge=1, description="Example event ids kept as evidence.")

    @field_validator("aliases")
    @classmethod
    def _known_features(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(v) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown banned feature(s) {unknown}; known: {list(FEATURES)}")
        return v


def _event_rows(inp: DetectorInput, feature: str, settings: Settings) -> np.ndarray:
    ev = inp.events
    if feature == "checkin":
        return np.flatnonzero(ev.type == int(EventType.checkin))
    if feature == "online_duration" and settings.count_study_time:
        return np.flatnonzero((ev.type == int(EventType.study)) & (ev.duration_s > 0))
    return np.zeros(0, dtype=np.int64)


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """One finding per banned feature the app has (none for an exempt app)."""
    if inp.app.exempt:
        return []
    declared = inp.app.declared_features
    listed = inp.snapshot.features if inp.snapshot is not None else frozenset()
    findings = []
    for feature in FEATURES:
        names = set(settings.aliases.get(feature, ())) | {feature}
        evidence: dict[str, object] = {"feature": feature}
        if declared & names:
            evidence["declared"] = sorted(declared & names)
        if listed & names:
            evidence["snapshot"] = sorted(listed & names)
        rows = _event_rows(inp, feature, settings)
        in_use = rows.size >= settings.min_events
        if in_use:
            evidence["events"] = {
                "count": int(rows.size),
                "accounts": int(np.unique(inp.events.account[rows]).size),
                "example_event_ids": inp.events.event_ids(rows[: settings.example_events]),
            }
        seen_in = [k for k in ("declared", "snapshot", "events") if k in evidence]
        if not seen_in:
            continue
        evidence["seen_in"] = seen_in
        label = feature.replace("_", " ")
        findings.append(
            Finding(
                id=finding_id(KIND, inp.app.id, feature),
                kind=KIND,
                app=inp.app.id,
                severity="warning",
                score=1.0,
                window_start=float(inp.events.ts[rows].min()) if in_use else inp.now,
                window_end=inp.now,
                summary=f"banned feature: {label} (seen in {', '.join(seen_in)}"
                + (f"; {rows.size} events in the raw window)" if in_use else ")"),
                reasons=[
                    Reason(
                        code=f"banned_{feature}",
                        text=f"{label} feature {'in use' if in_use else 'present'} "
                        f"({', '.join(seen_in)})",
                        value=float(rows.size) if in_use else 1.0,
                        threshold=float(settings.min_events) if in_use else 1.0,
                        rule=RULE,
                    )
                ],
                # No accounts in the evidence: this is about the app, and it must not count
                # towards the per-account forced-usage flags.
                evidence=evidence,
                # The app's own feature list alone may use names loosely.
                confidence=1.0 if in_use or "declared" in evidence else 0.8,
            )
        )
    return findings
