"""Shutdown assessment settings (config `detectors: shutdown:`, overridable per app), the
bands, the signals and the policy rules they measure against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tapwatch.events import EventType

KIND = "shutdown"
#: Finding kinds the assessment emits, by band.
FINDING_KIND_BY_BAND = {"candidate": "shutdown_candidate", "review": "needs_review"}
#: the kinds of the assessment's own findings: about the app as a whole, never about accounts
ASSESSMENT_KINDS = frozenset(FINDING_KIND_BY_BAND.values())
BANDS = ("candidate", "review", "keep", "insufficient_data", "exempt")
SIGNALS = (
    "reach",
    "dormancy",
    "decline",
    "depth",
    "unused_features",
    "maintenance",
    "redundancy",
    "cost",
)

RULE_LOW_USE = "2023 Opinions: shut down apps with low usage frequency and little practical value"
RULE_ZOMBIE = "inspection rules: no update for 2 weeks fails; 2-3 months without one is a zombie"
RULE_CONSOLIDATE = "2023 Opinions: consolidate apps with similar or duplicate functions"
RULE_COST = "2023 Opinions: an app costs 100k-1M+ CNY to build; decide what problem it solves"

_DEFAULT_FEATURE_TYPES: dict[str, tuple[str, ...]] = {
    "checkin": ("checkin",),
    "appointment": ("appointment",),
    "appointments": ("appointment",),
    "study": ("study",),
    "forms": ("form_submit",),
    "form": ("form_submit",),
    "reporting": ("form_submit",),
    "articles": ("read",),
    "news": ("read",),
    "notices": ("read",),
    "likes": ("like",),
    "tasks": ("action",),
    "services": ("action",),
}


class Weights(BaseModel):
    """Maximum points per signal in the additive evidence (earned / measured weight x 100)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reach: float = Field(30.0, ge=0, description="Points for reach (the dominant signal).")
    dormancy: float = Field(15.0, ge=0, description="Points for days without meaningful use.")
    decline: float = Field(10.0, ge=0, description="Points for use fallen below its own past.")
    depth: float = Field(10.0, ge=0, description="Points for few actions per organic account.")
    unused_features: float = Field(5.0, ge=0, description="Points for unused declared features.")
    maintenance: float = Field(10.0, ge=0, description="Points for no release/content update.")
    redundancy: float = Field(10.0, ge=0, description="Points for a sibling doing the same job.")
    cost: float = Field(10.0, ge=0, description="Points for high cost per organic account.")


class Settings(BaseModel):
    """Shutdown score settings (config `detectors: shutdown:`; overridable per app)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate_score: float = Field(
        70.0, gt=0, le=100, description="Score at or above which the app is a shutdown candidate."
    )
    review_score: float = Field(
        50.0, gt=0, le=100, description="Score at or above which the app needs review."
    )
    min_age_days: int = Field(
        90, ge=0, description="Apps launched fewer days ago get band insufficient_data."
    )
    min_data_days: int = Field(
        30, ge=1, description="Apps with fewer days of data get band insufficient_data."
    )
    exclude_flagged_by: int = Field(
        2,
        ge=1,
        description="Accounts flagged by at least this many forced-usage detectors are not "
        "organic.",
    )
    reach_concern: float = Field(
        0.30,
        gt=0,
        le=1,
        description="Reach (organic 30-day accounts / intended users) below which points start.",
    )
    reach_full: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Reach at or below which all points; with cost at cost_full_ratio or "
        "more, a candidate by itself.",
    )
    well_used_reach: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Guard rail: an app reaching at least this share of its intended users "
        "is never a candidate (small specialist apps), at most review.",
    )
    dormancy_concern_days: float = Field(
        14.0, ge=0, description="Days without meaningful use after which points start."
    )
    dormancy_full_days: float = Field(
        60.0,
        gt=0,
        description="Days without meaningful use that earn all points; a candidate by itself "
        "(a zombie).",
    )
    decline_concern: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Use in the judged 30 days over the app's own past (its peak 30 days, or "
        "the same 30 days a year earlier for a seasonal app) below which points start.",
    )
    decline_full: float = Field(
        0.2, ge=0, description="Decline ratio at or below which all points."
    )
    abandoned_ratio: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Decline ratio at or below which, with reach under reach_concern, the app "
        "is a candidate by itself (it lost nearly all its users).",
    )
    decline_min_history_days: int = Field(
        30,
        ge=30,
        description="Days of history before the judged 30 days needed to measure a decline.",
    )
    depth_concern: float = Field(
        4.0,
        gt=0,
        description="Meaningful actions per organic account per 30 days below which points start.",
    )
    depth_full: float = Field(1.0, ge=0, description="Depth at or below which all points.")
    unused_feature_days: int = Field(
        90, ge=1, description="A declared feature with no events for this many days is unused."
    )
    unused_concern: float = Field(
        0.25, ge=0, lt=1, description="Share of unused declared features above which points start."
    )
    unused_full: float = Field(0.75, gt=0, le=1, description="Unused share earning all points.")
    maintenance_concern_days: float = Field(
        14.0, ge=0, description="Days since last release/content update after which points start."
    )
    maintenance_full_days: float = Field(
        90.0, gt=0, description="Days since last release/content update earning all points."
    )
    redundancy_overlap: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Share of this app's 30-day accounts also active in a sibling (same region "
        "and category) at which the two do the same job.",
    )
    redundancy_feature_similarity: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Jaccard similarity of two siblings' declared features at which they do "
        "the same job.",
    )
    redundancy_shared_forms: int = Field(
        3,
        ge=1,
        description="Form contents (content_hash) filed in both siblings in the raw window at "
        "which they do the same job.",
    )
    redundancy_unit_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of this app's units also seen in a sibling's raw window at which "
        "they do the same job.",
    )
    redundancy_use_ratio: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="An app doing a sibling's job with at most this fraction of its organic "
        "use (account-days) is at least review, naming the sibling.",
    )
    cost_concern_ratio: float = Field(
        2.0, gt=0, description="Cost per organic account / fleet median above which points start."
    )
    cost_full_ratio: float = Field(
        10.0,
        gt=0,
        description="Cost ratio earning all points; with reach at reach_full or less, a "
        "candidate by itself.",
    )
    cost_min_apps: int = Field(
        3, ge=2, description="Apps with a known cost needed before the fleet median is used."
    )
    feature_event_types: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(_DEFAULT_FEATURE_TYPES),
        description="Declared feature name -> event types that show it is used.",
    )
    weights: Weights = Field(default_factory=Weights, description="Points per signal.")

    @field_validator("review_score")
    @classmethod
    def _review_below_candidate(cls, v: float, info: ValidationInfo) -> float:
        cand = info.data.get("candidate_score")
        if cand is not None and v >= cand:
            raise ValueError(f"must be below candidate_score ({cand})")
        return v

    @field_validator("reach_full", "decline_full", "depth_full")
    @classmethod
    def _full_below_concern(cls, v: float, info: ValidationInfo) -> float:
        name = info.field_name.removesuffix("_full") + "_concern"  # type: ignore[union-attr]
        concern = info.data.get(name)
        if concern is not None and v >= concern:
            raise ValueError(f"must be below {name} ({concern})")
        return v

    @field_validator("abandoned_ratio")
    @classmethod
    def _abandoned_below_full(cls, v: float, info: ValidationInfo) -> float:
        full = info.data.get("decline_full")
        if full is not None and v > full:
            raise ValueError(f"must be at most decline_full ({full})")
        return v

    @field_validator(
        "dormancy_full_days", "unused_full", "maintenance_full_days", "cost_full_ratio"
    )
    @classmethod
    def _full_above_concern(cls, v: float, info: ValidationInfo) -> float:
        field = info.field_name or ""
        name = field.replace("_full", "_concern")
        concern = info.data.get(name)
        if concern is not None and v <= concern:
            raise ValueError(f"must be above {name} ({concern})")
        return v

    @field_validator("feature_event_types")
    @classmethod
    def _known_event_types(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        known = {t.name for t in EventType}
        for feature, types in v.items():
            bad = sorted(set(types) - known)
            if bad:
                raise ValueError(
                    f"feature {feature!r}: unknown event type(s) {bad}; known: {sorted(known)}"
                )
        return v
