"""Banned features: check-in, points rankings and online-duration counters.

The Jan 2026 Measures for the Standardised Management of Government Mobile Apps ban them
(security and emergency apps, `AppProfile.exempt`, excepted). A feature is found where the
registry declares it, where the app's own usage figures list it, or in its events:

* check-in: check-in events are the feature itself;
* online duration: the ban is on *scoring* time online (the "500 study hours" behind a
  county ranking), not on measuring it. A `duration_s` on events is telemetry (a study
  app reports how long a lesson played; every app has session lengths), so it is evidence
  only where the app also has a points ranking that the credited time can feed ("scored");
* points ranking: rankings leave no event of their own, so they are found where declared
  or listed.

One finding per app and banned feature, id stable per (app, feature).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stats import count_distinct
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
    scored_study_time: bool = Field(
        True,
        description="Study events that credit time show an online-duration counter where the "
        "app also has a points ranking (the credited time is scored).",
    )
    example_events: int = Field(20, ge=1, description="Example event ids kept as evidence.")

    @field_validator("aliases")
    @classmethod
    def _known_features(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(v) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown banned feature(s) {unknown}; known: {list(FEATURES)}")
        return v


def _event_rows(inp: DetectorInput, feature: str) -> np.ndarray:
    """Events that are the feature itself (only check-ins are)."""
    if feature == "checkin":
        return np.flatnonzero(inp.events.type == int(EventType.checkin))
    return np.zeros(0, dtype=np.int64)


def _scored_time(inp: DetectorInput, settings: Settings, ranking: set[str]) -> dict | None:
    """Evidence that credited study time is scored: study events with a duration in an
    app that has a points ranking (declared or listed)."""
    if not settings.scored_study_time or not ranking:
        return None
    ev = inp.events
    rows = np.flatnonzero((ev.type == int(EventType.study)) & (ev.duration_s > 0))
    if rows.size < settings.min_events:
        return None
    return {
        "ranking": sorted(ranking),
        "timed_study_events": int(rows.size),
        "credited_s": round(float(ev.duration_s[rows].sum()), 1),
        "example_event_ids": ev.event_ids(rows[: settings.example_events]),
    }


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """One finding per banned feature the app has (none for an exempt app)."""
    if inp.app.exempt:
        return []
    declared = inp.app.declared_features
    listed = inp.snapshot.features if inp.snapshot is not None else frozenset()
    ranking_names = set(settings.aliases.get("points_ranking", ())) | {"points_ranking"}
    ranking = (declared | listed) & ranking_names
    findings = []
    for feature in FEATURES:
        names = set(settings.aliases.get(feature, ())) | {feature}
        evidence: dict[str, object] = {"feature": feature}
        if declared & names:
            evidence["declared"] = sorted(declared & names)
        if listed & names:
            evidence["snapshot"] = sorted(listed & names)
        rows = _event_rows(inp, feature)
        in_use = rows.size >= settings.min_events
        if in_use:
            evidence["events"] = {
                "count": int(rows.size),
                "accounts": count_distinct(inp.events.account[rows], len(inp.events.accounts)),
                "example_event_ids": inp.events.event_ids(rows[: settings.example_events]),
            }
        if feature == "online_duration" and (scored := _scored_time(inp, settings, ranking)):
            evidence["scored"] = scored
        seen_in = [k for k in ("declared", "snapshot", "events", "scored") if k in evidence]
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
                # The app's own feature list alone may use names loosely; time credited next
                # to a ranking is scored only as far as we can tell from outside.
                confidence=1.0 if in_use or "declared" in evidence
                else 0.9 if "scored" in evidence else 0.8,
            )
        )
    return findings
