"""Detector engine: runs every detector over the fleet, then the shutdown assessment.

Shared by the daemon and `tapwatch analyze`: pure and deterministic (the same inputs in any
order give the same result), no I/O, time taken from each `DetectorInput.now`.

Order: per-app forced-usage detectors, fleet-level detectors, then the assessment of each
app, which needs the accounts flagged by two or more forced-usage detectors (not organic),
then the cross-app pass over the assessments (consolidation: which app of a group to keep
needs each app's organic use).
A detector that raises is recorded in `FleetResult.failures` and the run goes on: one bad
detector must not blank the whole fleet's results.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from tapwatch.detectors import (
    ASSESSMENT,
    DETECTORS,
    consolidation,
    duplicate_reporting,
    resolve_settings,
    ritual_rounds,
)
from tapwatch.detectors.assessment import (
    ASSESSMENT_KINDS,
    Assessment,
    assess_fleet,
    assessment_finding,
    excluded_mask,
    organic_active_accounts,
)
from tapwatch.detectors.banned_feature import FEATURES as BANNED_FEATURES
from tapwatch.detectors.base import DetectorInput, Finding
from tapwatch.detectors.derived import one_pass
from tapwatch.detectors.stacked import runs
from tapwatch.window import local_day_of

log = logging.getLogger(__name__)
_RECENT_DAYS = 30  # forced_activity_ratio falls back to this many days of rollups


@dataclass(frozen=True, slots=True)
class AppMetrics:
    """Per-app values the daemon exports (app-level only: no account ever appears here)."""

    shutdown_score: float  # 0..100
    band: str
    #: organic active accounts over 1, 7 and 30 days; None where unknown (snapshot-only app)
    organic_active_accounts: dict[str, int | None]
    #: share of recent activity by flagged accounts or in flagged events; None if no activity
    forced_activity_ratio: float | None
    banned_features: dict[str, int]  # feature -> 1 if a banned_feature finding names it
    #: findings of this run by kind (the store decides which are still open vs dismissed)
    findings_open_by_kind: dict[str, int]
    #: the app to keep of the consolidation group this app belongs to, and the group's
    #: combined annual cost (None when the app is in no group)
    consolidation_keep: str | None = None
    consolidation_cost_cny: float | None = None
    #: accounts whose daily round of apps includes this one (ritual_rounds)
    ritual_round_accounts: int = 0


@dataclass(frozen=True, slots=True)
class DetectorFailure:
    kind: str
    app: str | None  # None for a fleet-level detector
    error: str  # exception type and message


@dataclass(slots=True)
class FleetResult:
    findings: list[Finding]  # sorted by (app, kind, window_start, id)
    assessments: dict[str, Assessment]  # app -> assessment
    metrics: dict[str, AppMetrics]  # app -> exported values
    #: app -> filings in the last 7 days of content its unit also filed on another app
    duplicate_filings: dict[str, int]
    failures: list[DetectorFailure] = field(default_factory=list)


def per_account_flags(findings: list[Finding]) -> dict[str, dict[str, set[str]]]:
    """app -> account -> kinds of forced-usage findings naming it in evidence["accounts"]
    (for every app a cross-app finding is about).

    Assessment findings are about apps and never count.
    """
    flags: dict[str, dict[str, set[str]]] = {}
    for f in findings:
        if f.kind in ASSESSMENT_KINDS:
            continue
        accounts = f.evidence.get("accounts")
        if not accounts:
            continue
        for app in f.members():
            per_app = flags.setdefault(app, {})
            for acc in accounts:
                per_app.setdefault(acc, set()).add(f.kind)
    return flags


class _SettingsCache:
    """Resolved settings per (kind, app): config defaults, then the app's overrides."""

    def __init__(self, defaults: Mapping[str, Mapping[str, Any]], inputs: list[DetectorInput]):
        self._defaults = defaults
        self._overrides = {inp.app.id: inp.app.detector_overrides for inp in inputs}
        self._cache: dict[tuple[str, str], BaseModel] = {}
        self._base: dict[str, BaseModel] = {}

    def get(self, kind: str, app: str) -> Any:
        key = (kind, app)
        s = self._cache.get(key)
        if s is None:
            over = self._overrides.get(app, {}).get(kind, {})
            # an app without overrides of this kind has the defaults: validated once, not
            # once per app (frozen models: sharing one is safe)
            s = self._cache[key] = (
                resolve_settings(kind, self._defaults.get(kind, {}), over)
                if over
                else self.defaults(kind)
            )
        return s

    def defaults(self, kind: str) -> Any:
        """Settings from the daemon's defaults alone (no app overrides)."""
        s = self._base.get(kind)
        if s is None:
            s = self._base[kind] = resolve_settings(kind, self._defaults.get(kind, {}), {})
        return s


def _one_line(e: Exception) -> str:
    """Exception type and message on one line (pydantic messages span several)."""
    return f"{type(e).__name__}: " + " | ".join(
        line.strip() for line in str(e).splitlines() if line.strip()
    )


def _finding_order(f: Finding) -> tuple[str, str, float, str]:
    return (f.app, f.kind, f.window_start, f.id)


def forced_activity_ratio(
    inp: DetectorInput, flagged_accounts: set[str], flagged_event_ids: set[str]
) -> float | None:
    """Share of recent activity attributable to forced usage: raw-window events by accounts
    any forced-usage detector flagged, or named in a finding's event_ids. Without raw
    events, the share of the last 30 days' rollup events by flagged accounts."""
    ev = inp.events
    if len(ev):
        by_flagged = excluded_mask(ev.accounts, flagged_accounts)[ev.account]
        if flagged_event_ids:
            ids = np.array([i.encode() for i in sorted(flagged_event_ids)], dtype=ev.ids.dtype)
            by_flagged |= np.isin(ev.ids, ids)
        return round(float(by_flagged.mean()), 4)
    ad = inp.account_days
    if len(ad):
        recent = ad.day > local_day_of(inp.now, inp.app.timezone) - _RECENT_DAYS
        total = int(ad.events[recent].sum())
        if total:
            by_flagged = excluded_mask(ad.accounts, flagged_accounts)[ad.account] & recent
            return round(int(ad.events[by_flagged].sum()) / total, 4)
    return None


def _event_ids_of(findings: list[Finding]) -> set[str]:
    ids: set[str] = set()
    for f in findings:
        ids.update(str(i) for i in f.evidence.get("event_ids", ()))
    return ids


def _having(entry: str) -> list[tuple[str, Any]]:
    """(kind, module) of the detectors with this entry point."""
    return [(k, m) for k, m in DETECTORS.items() if callable(getattr(m, entry, None))]


def run_detectors(
    inputs: list[DetectorInput], defaults: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[list[Finding], list[DetectorFailure]]:
    """Run every forced-usage detector (per app, then fleet-level) over the fleet, without
    the assessment: (findings in detector order, failures). `tapwatch analyze` calls this
    for each window it slides over a dump; `run_fleet` for a whole pass."""
    inputs = sorted(inputs, key=lambda i: i.app.id)
    with one_pass(inputs), no_cycle_collection():
        return _detect(inputs, _SettingsCache(defaults or {}, inputs))


def _detect(
    inputs: list[DetectorInput], settings: _SettingsCache
) -> tuple[list[Finding], list[DetectorFailure]]:
    findings: list[Finding] = []
    failures: list[DetectorFailure] = []
    per_app, fleet_level = _having("detect"), _having("detect_fleet")
    for kind, mod in per_app:
        batch = getattr(mod, "detect_batch", None)
        for group, st in _by_settings(kind, inputs, settings, failures):
            for part in runs(group) if batch is not None else [group]:
                if batch is not None and len(part) > 1:
                    try:
                        findings.extend(batch(part, st))
                        continue
                    except Exception as e:  # judged app by app below: the failure is the app's
                        log.warning(
                            "detector %s: a batch of %d apps failed (%s); judging them one "
                            "by one", kind, len(part), _one_line(e),
                        )
                for inp in part:
                    try:
                        findings.extend(mod.detect(inp, st))
                    except Exception as e:  # isolate one detector's bug: the run goes on
                        failures.append(DetectorFailure(kind, inp.app.id, _one_line(e)))
    for kind, mod in fleet_level:
        try:
            findings.extend(
                mod.detect_fleet(inputs, lambda app, kind=kind: settings.get(kind, app))
            )
        except Exception as e:
            failures.append(DetectorFailure(kind, None, _one_line(e)))
    return findings, failures


def _by_settings(
    kind: str, inputs: list[DetectorInput], settings: _SettingsCache,
    failures: list[DetectorFailure],
) -> list[tuple[list[DetectorInput], Any]]:
    """The inputs grouped by the settings they are judged with (one group where no app
    overrides this kind: apps without overrides share one settings object), each group in
    input order. An app whose overrides do not validate is a failure, not judged."""
    groups: dict[int, tuple[list[DetectorInput], Any]] = {}
    for inp in inputs:
        try:
            st = settings.get(kind, inp.app.id)
        except Exception as e:
            failures.append(DetectorFailure(kind, inp.app.id, _one_line(e)))
            continue
        groups.setdefault(id(st), ([], st))[0].append(inp)
    return list(groups.values())


def run_fleet(
    inputs: list[DetectorInput], defaults: Mapping[str, Mapping[str, Any]] | None = None
) -> FleetResult:
    """Run every detector and the shutdown assessment over the fleet.

    `defaults` is the daemon's `detectors:` config section ({kind: {setting: value}});
    each app's `AppProfile.detector_overrides` go on top. Raises pydantic.ValidationError
    on invalid settings (the config loader has normally caught them already).
    """
    inputs = sorted(inputs, key=lambda i: i.app.id)
    with one_pass(inputs), no_cycle_collection():
        return _run_fleet(inputs, _SettingsCache(defaults or {}, inputs))


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused for the pass: a pass makes some hundred thousand
    short-lived containers (findings, evidence, siblings), each allocation burst setting
    off collections that walk them all again, for 15 % of the pass's CPU and nothing to
    collect (reference counting frees them). Whatever cycles a pass leaves are collected
    after it; it is resumed only if it was running. The detector worker pauses it for
    reading the inputs too (window tables and rollups: the same bursts)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _run_fleet(inputs: list[DetectorInput], settings: _SettingsCache) -> FleetResult:
    findings, failures = _detect(inputs, settings)

    flags = per_account_flags(findings)

    def excluded_for(app: str, n: int) -> set[str]:
        return {a for a, kinds in flags.get(app, {}).items() if len(kinds) >= n}

    # An app whose shutdown overrides do not combine with the defaults is still assessed,
    # on the defaults, and the failure is recorded: every app must have a band.
    shutdown_settings: dict[str, Any] = {}
    for inp in inputs:
        try:
            shutdown_settings[inp.app.id] = settings.get(ASSESSMENT.KIND, inp.app.id)
        except ValidationError as e:
            failures.append(DetectorFailure(ASSESSMENT.KIND, inp.app.id, _one_line(e)))
            shutdown_settings[inp.app.id] = settings.defaults(ASSESSMENT.KIND)
    assessments = assess_fleet(inputs, shutdown_settings.__getitem__, excluded_for)
    for inp in inputs:
        f = assessment_finding(assessments[inp.app.id], inp.now)
        if f is not None:
            findings.append(f)
    for kind, mod in _having("detect_assessed"):
        try:
            findings.extend(
                mod.detect_assessed(
                    inputs, lambda app, kind=kind: settings.get(kind, app), assessments
                )
            )
        except Exception as e:
            failures.append(DetectorFailure(kind, None, _one_line(e)))
    findings.sort(key=_finding_order)

    by_app: dict[str, list[Finding]] = {}
    for f in findings:
        for app in f.members():
            by_app.setdefault(app, []).append(f)
    metrics: dict[str, AppMetrics] = {}
    for inp in inputs:
        app = inp.app.id
        mine = by_app.get(app, [])
        # event ids are unique within an app only: a cross-app finding's belong to the app
        # it is filed under
        forced = [f for f in mine if f.kind not in ASSESSMENT_KINDS and f.app == app]
        a = assessments[app]
        shutdown = shutdown_settings[app]
        banned = {f.evidence.get("feature") for f in mine if f.kind == "banned_feature"}
        counts: dict[str, int] = {}
        for f in mine:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        group = next((f for f in mine if f.kind == consolidation.KIND), None)
        rounds = [f for f in mine if f.kind == ritual_rounds.KIND]
        metrics[app] = AppMetrics(
            shutdown_score=a.score,
            band=a.band,
            organic_active_accounts=organic_active_accounts(
                inp, excluded_for(app, shutdown.exclude_flagged_by)
            ),
            forced_activity_ratio=forced_activity_ratio(
                inp, set(flags.get(app, {})), _event_ids_of(forced)
            ),
            banned_features={feat: int(feat in banned) for feat in BANNED_FEATURES},
            findings_open_by_kind=dict(sorted(counts.items())),
            consolidation_keep=group.evidence["keep"] if group else None,
            consolidation_cost_cny=group.evidence["combined_annual_cost_cny"] if group else None,
            ritual_round_accounts=max(
                (f.evidence["rounders_per_app"].get(app, 0) for f in rounds), default=0
            ),
        )

    try:
        duplicated = duplicate_reporting.app_duplicate_filings(
            inputs, lambda app: settings.get(duplicate_reporting.KIND, app)
        )
    except Exception as e:
        failures.append(DetectorFailure(duplicate_reporting.KIND, None, _one_line(e)))
        duplicated = {}
    return FleetResult(
        findings=findings,
        assessments=assessments,
        metrics=metrics,
        duplicate_filings=duplicated,
        failures=failures,
    )
