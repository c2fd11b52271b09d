"""What is measured about one app before it is scored: organic use in the judged window,
its own past, its features and its maintenance (fleet context comes later).

*Organic* accounts did at least one meaningful action (form_submit, appointment, action)
and were not flagged by two or more forced-usage detectors. Rollups first; an app that
sends no events is measured from its own usage figures (its snapshot), with lower
confidence. A seasonal app is judged on the 30 days that end at the end of its last season.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import date

import numpy as np

from tapwatch.detectors.assessment.history import PastUse, past_use
from tapwatch.detectors.assessment.settings import Settings
from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.same_job import active_accounts
from tapwatch.detectors.stats import count_distinct, distinct_codes, of_types
from tapwatch.events import MEANINGFUL_TYPES, EventType
from tapwatch.window import DAY, local_day_of

MONTH = 30  # days: the assessment's unit of "recent"
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MEANINGFUL = np.array(sorted(int(t) for t in MEANINGFUL_TYPES), dtype=np.uint8)
_TYPE_NAME = {int(t): t.name for t in EventType}  # an enum made per code costs microseconds


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """What was measured about one app over its judged window."""

    basis: str  # "rollups", "snapshot" or "none"
    today: int  # local day number of `now`
    ref_day: int  # last local day of the judged window
    coverage_days: float | None
    organic_30d: int | None  # organic active accounts in the judged window
    meaningful_30d: int | None  # organic meaningful actions in the judged window
    organic_account_days: int | None  # organic account-days with a meaningful action
    past: PastUse | None  # the judged window against the app's own past
    days_since_meaningful: float | None
    active_accounts: frozenset[str]  # every account with an event in the judged window
    unused_features: tuple[str, ...]
    mapped_features: tuple[str, ...]
    days_since_update: float | None


def day_date(day: int) -> date:
    return date.fromordinal(day + _EPOCH_ORDINAL)


def reference_day(inp: DetectorInput, today: int) -> int:
    """Last day of the judged window: today, or for a seasonal app the last day of its most
    recent season that has lasted a full window (out of season, or in the first 30 days of
    a season, that is the end of the previous season)."""
    months = inp.app.season_months
    if not months or len(months) == 12:
        return today

    def in_season(day: int) -> bool:
        return day_date(day).month in months

    day = today
    if in_season(day):
        start = day
        while in_season(start - 1):
            start -= 1
        if today - start + 1 >= MONTH:
            return today
        day = start - 1  # season just began: judge the previous one
    while not in_season(day):
        day -= 1
    return day


def excluded_mask(accounts: list[str], excluded: Set[str]) -> np.ndarray:
    """Boolean per account code: True where the account is not organic."""
    if not excluded:  # most apps: no account flagged, no string looked up
        return np.zeros(len(accounts), dtype=bool)
    return np.fromiter(map(excluded.__contains__, accounts), dtype=bool, count=len(accounts))


def organic_active_accounts(inp: DetectorInput, excluded: Set[str]) -> dict[str, int | None]:
    """Organic active accounts over the last 1, 7 and 30 days (None when unknown).

    1d and 7d are rolling windows over the raw events when there are any, else local days of
    the rollups; 30d always comes from the rollups (the raw window is shorter).
    """
    out: dict[str, int | None] = {"1d": None, "7d": None, "30d": None}
    ad = inp.account_days
    today = local_day_of(inp.now, inp.app.timezone)
    if len(ad):
        keep = ~excluded_mask(ad.accounts, excluded)[ad.account] & (ad.meaningful > 0)
        for key, n in (("1d", 1), ("7d", 7), ("30d", MONTH)):
            m = keep & (ad.day > today - n) & (ad.day <= today)
            out[key] = count_distinct(ad.account[m], len(ad.accounts))
    ev = inp.events
    if len(ev):
        keep = ~excluded_mask(ev.accounts, excluded)[ev.account] & of_types(ev.type, _MEANINGFUL)
        for key, n in (("1d", 1), ("7d", 7)):
            m = keep & (ev.ts > inp.now - n * DAY) & (ev.ts <= inp.now)
            out[key] = count_distinct(ev.account[m], len(ev.accounts))
    return out


def measure(inp: DetectorInput, settings: Settings, excluded: Set[str]) -> UsageFacts:
    """Measure the app's usage over its judged window (rollups first, else its snapshot)."""
    today = local_day_of(inp.now, inp.app.timezone)
    ref = reference_day(inp, today)
    mapped, unused = _feature_use(inp, settings, ref)
    common = {
        "today": today,
        "ref_day": ref,
        "coverage_days": _coverage_days(inp, today),
        "unused_features": unused,
        "mapped_features": mapped,
        "days_since_update": _days_since_update(inp, today, ref),
    }
    if len(inp.account_days):
        return _from_rollups(inp, settings, excluded, ref, common)
    snap = inp.snapshot
    if snap is not None and ref == today:
        # The app's own figures count every active account (check-ins too): a proxy for
        # organic use, hence the lower confidence. Out of season they say nothing.
        since_proxy = None
        if snap.active_accounts_1d:
            since_proxy = 0.0
        elif snap.active_accounts_7d:
            since_proxy = 7.0
        elif snap.active_accounts_30d is not None:
            since_proxy = 7.0 if snap.active_accounts_30d else float(MONTH)
        return UsageFacts(
            basis="snapshot", organic_30d=snap.active_accounts_30d, meaningful_30d=None,
            organic_account_days=None, past=None, days_since_meaningful=since_proxy,
            active_accounts=frozenset(), **common,
        )
    return UsageFacts(
        basis="none", organic_30d=None, meaningful_30d=None, organic_account_days=None,
        past=None, days_since_meaningful=None, active_accounts=frozenset(), **common,
    )


def _from_rollups(
    inp: DetectorInput, settings: Settings, excluded: Set[str], ref: int, common: dict
) -> UsageFacts:
    ad = inp.account_days
    history = inp.usage_history()
    first_day = int(ad.day.min())
    if len(history):
        first_day = min(first_day, int(history.day[0]))
    if inp.data_since is not None:
        first_day = min(first_day, local_day_of(inp.data_since, inp.app.timezone))
    organic = ~excluded_mask(ad.accounts, excluded)[ad.account] & (ad.meaningful > 0)
    in_win = (ad.day > ref - MONTH) & (ad.day <= ref)
    past_rows = organic & (ad.day <= ref)
    if past_rows.any():
        since = float(ref - int(ad.day[past_rows].max()))
    else:
        # No organic meaningful action in the rollups: the longer history may still show
        # when the last one was; else at least as long as the data we hold.
        used = history.day[(history.meaningful > 0) & (history.day <= ref)]
        since = float(ref - int(used[-1])) if used.size else float(ref - first_day + 1)
    seasonal = bool(inp.app.season_months) and len(inp.app.season_months or ()) < 12
    return UsageFacts(
        basis="rollups",
        organic_30d=count_distinct(ad.account[organic & in_win], len(ad.accounts)),
        meaningful_30d=int(ad.meaningful[organic & in_win].sum()),
        organic_account_days=int((organic & in_win).sum()),
        past=past_use(history, ref, first_day, seasonal, settings.decline_min_history_days),
        days_since_meaningful=since,
        active_accounts=active_accounts(inp, ref),
        **common,
    )


def _coverage_days(inp: DetectorInput, today: int) -> float | None:
    if inp.data_since is not None:
        return max(0.0, (inp.now - inp.data_since) / DAY)
    if len(inp.account_days):
        return float(today - int(inp.account_days.day.min()) + 1)
    if len(inp.events):
        return (inp.now - float(inp.events.ts[0])) / DAY
    return None


def _days_since_update(inp: DetectorInput, today: int, ref: int) -> float | None:
    snap = inp.snapshot
    if snap is None:
        return None
    updates = [t for t in (snap.last_release_at, snap.last_content_update_at) if t is not None]
    if not updates:
        return None
    ref_end = inp.now - (today - ref) * DAY
    return max(0.0, (ref_end - max(updates)) / DAY)


def _feature_use(
    inp: DetectorInput, settings: Settings, ref: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(declared features we can map to event types, those with no events for N days)."""
    declared = sorted(inp.app.declared_features | snapshot_features(inp))
    mapped = tuple(f for f in declared if f in settings.feature_event_types)
    if not mapped:
        return (), ()
    lo = ref - settings.unused_feature_days
    hours = inp.app_hours
    if len(hours):
        m = (hours.day > lo) & (hours.day <= ref) & (hours.count > 0)
        seen = {_TYPE_NAME[t] for t in distinct_codes(hours.type[m], 256).tolist()}
    else:
        ad = inp.account_days
        m = (ad.day > lo) & (ad.day <= ref)
        seen = {
            name
            for name, col in (
                ("checkin", ad.checkin),
                ("read", ad.read),
                ("like", ad.like),
                ("study", ad.study),
                ("session_start", ad.session),
            )
            if int(col[m].sum())
        }
        if int(ad.meaningful[m].sum()):
            # Rollups do not split meaningful actions by type: any counts for all three.
            seen |= {t.name for t in MEANINGFUL_TYPES}
    unused = tuple(f for f in mapped if not seen.intersection(settings.feature_event_types[f]))
    return mapped, unused


def snapshot_features(inp: DetectorInput) -> frozenset[str]:
    return inp.snapshot.features if inp.snapshot is not None else frozenset()
