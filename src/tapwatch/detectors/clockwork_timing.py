"""Clockwork timing: accounts that act like clocks, not people.

People are irregular. The first thing an official does in a work app each day follows a
commute, a meeting, a child's school run: it moves by 10-30 minutes from day to day. Gaps
between a person's actions within a day are bursty (reading, thinking, interruptions):
their coefficient of variation is around 1 or more. A scheduled script, an auto-clicker or
a person told to "check in at 8:30 sharp" behind a device farm shows neither.

Two per-account tests, reported only as an app-level share of active accounts:

* steady first action: over at least `min_days` active days in the look-back, the robust
  spread (MAD x 1.4826, a standard-deviation estimate that ignores a few odd days) of the
  time of the day's first event is at most `max_first_action_spread_s` (3 min);
* regular intervals: over at least `min_gaps` within-day gaps between actions in the raw
  window (session bookkeeping events excluded, gaps over `max_gap_s` dropped), the
  burstiness of Goh & Barabási (2008) with the finite-size correction of Kim & Jo (2016)
  is at most `max_burstiness` (-0.6 means gaps with a coefficient of variation of ~0.25).

A finding when the share of clockwork accounts reaches `share_threshold` and there are at
least `min_accounts` of them. Keyed on the ISO week. The evidence is a distribution (a
histogram of spreads), never a ranking of people.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stats import (
    account_codes_by_name,
    bounded_accounts,
    bounded_event_ids,
    corrected_burstiness,
    data_confidence,
    day_to_date,
    exceedance_score,
    grouped_mad,
    histogram,
    iso_week,
    local_day_and_second,
    local_midnight,
    of_types,
    severity_for,
)
from tapwatch.events import EventType
from tapwatch.window import local_day_of

KIND = "clockwork_timing"
_RULE = "2026 management measures: no mandatory periodic logins; assess results, not traces"
_SPREAD_EDGES_MIN = [0.0, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, float("inf")]
_BURSTINESS_EDGES = [-1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
_BOOKKEEPING = np.array([EventType.session_start, EventType.session_end], dtype=np.uint8)
_EXAMPLE_ACCOUNTS = 5
_EXAMPLE_DAYS = 14


class Settings(BaseModel):
    """Settings of the clockwork-timing detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lookback_days: int = Field(
        default=56, ge=14, le=120, description="Complete local days used for first actions."
    )
    min_days: int = Field(
        default=10, ge=5, description="Active days an account needs for the first-action test."
    )
    max_first_action_spread_s: float = Field(
        default=180.0,
        gt=0.0,
        le=1800.0,
        description="Robust spread (MAD x 1.4826) of the first action's time of day at or "
        "below which an account is clockwork; commuting people vary by 10-30 min.",
    )
    min_gaps: int = Field(
        default=20, ge=5, description="Within-day gaps an account needs for the interval test."
    )
    max_gap_s: float = Field(
        default=3600.0,
        gt=0.0,
        description="Gaps between actions longer than this are breaks, not rhythm; dropped.",
    )
    max_burstiness: float = Field(
        default=-0.6,
        ge=-1.0,
        le=0.0,
        description="Corrected burstiness at or below which an account's gaps are "
        "machine-regular (-1 clock, 0 random, >0 human bursts).",
    )
    share_threshold: float = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="Share of active accounts that are clockwork for a finding.",
    )
    min_accounts: int = Field(
        default=3, ge=1, description="Clockwork accounts needed for a finding."
    )


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """A finding when a notable share of the app's active accounts keeps clockwork time."""
    st = settings
    ad = inp.account_days
    today = local_day_of(inp.now, inp.app.timezone)
    first = today - st.lookback_days
    sel = (ad.day >= first) & (ad.day < today) & (ad.events > 0)
    n_acc = len(ad.accounts)
    # accounts as codes into the rollups' table (its names are distinct): sets of
    # pseudonyms only for what a finding names
    acc = ad.account[sel]
    n_days = np.bincount(acc, minlength=n_acc)
    active = n_days > 0
    n_active = int(np.count_nonzero(active))
    if n_active == 0:
        return []

    # First action of the day: robust spread per account with enough days (all active).
    spread = grouped_mad(acc, ad.first_s[sel], n_acc)  # float32: widened inside, once
    eligible_first = n_days >= st.min_days
    steady = eligible_first & (spread <= st.max_first_action_spread_s)

    # Within-day gaps between actions in the raw window.
    regular, b_values, n_eligible_gaps = _regular_accounts(inp, st)
    win = inp.events
    regular_ad = _codes_in(ad.accounts, win.accounts, regular)
    clockwork = steady.copy()
    clockwork[regular_ad] = True
    clockwork &= active  # shares are of the look-back's active accounts
    n_clockwork = int(np.count_nonzero(clockwork))
    share = n_clockwork / n_active
    if n_clockwork < st.min_accounts or share < st.share_threshold:
        return []

    score = round(exceedance_score(share, st.share_threshold, 0.5), 3)
    week = iso_week(today - 1)
    reasons = [
        Reason(
            code="clockwork_share",
            text="Share of active accounts whose first action or action gaps keep clockwork time.",
            value=round(share, 4),
            threshold=st.share_threshold,
            rule=_RULE,
        )
    ]
    n_steady = int(np.count_nonzero(steady))
    if n_steady:
        reasons.append(
            Reason(
                code="steady_first_action",
                text=f"Accounts (of {int(eligible_first.sum())} with {st.min_days}+ active "
                f"days) whose first action of the day varies by at most "
                f"{st.max_first_action_spread_s / 60:g} min.",
                value=float(n_steady),
                threshold=float(st.min_accounts),
            )
        )
    n_regular = int(np.count_nonzero(active[regular_ad]))
    if regular.any():
        reasons.append(
            Reason(
                code="regular_intervals",
                text=f"Accounts (of {n_eligible_gaps} with {st.min_gaps}+ within-day gaps) "
                f"with corrected burstiness at most {st.max_burstiness:g}.",
                value=float(n_regular),
                threshold=float(st.min_accounts),
            )
        )
    clock_codes_ad = np.flatnonzero(clockwork).astype(np.int32)
    clock_codes_win = _codes_in(win.accounts, ad.accounts, clockwork)
    ev_rows = np.flatnonzero(np.isin(win.account, clock_codes_win))
    summary = (
        f"{n_clockwork} of {n_active} active accounts ({share:.0%}, "
        f"threshold {st.share_threshold:.0%}) keep clockwork time: {n_steady} start each day "
        f"within {st.max_first_action_spread_s / 60:g} min, {n_regular} "
        f"act at machine-regular intervals."
    )
    return [
        Finding(
            id=finding_id(KIND, inp.app.id, week),
            kind=KIND,
            app=inp.app.id,
            severity=severity_for(score),
            score=score,
            window_start=local_midnight(inp.app.timezone, first),
            window_end=local_midnight(inp.app.timezone, today),
            summary=summary,
            reasons=reasons,
            evidence={
                "period": week,
                "share": round(share, 4),
                "accounts_active": n_active,
                "first_action_spread_histogram_min": histogram(
                    spread[eligible_first] / 60.0, _SPREAD_EDGES_MIN
                ),
                "burstiness_histogram": histogram(b_values, _BURSTINESS_EDGES),
                "example_first_actions": _examples(inp, sel, clock_codes_ad),
                **bounded_accounts(ad.accounts, clock_codes_ad),
                **bounded_event_ids(win, ev_rows),
            },
            confidence=data_confidence(
                (int(eligible_first.sum()) + n_eligible_gaps, 20), (n_active, 20)
            ),
        )
    ]


def _regular_accounts(inp: DetectorInput, st: Settings) -> tuple[np.ndarray, np.ndarray, int]:
    """Which accounts of the raw window (a mask over its account codes) have
    machine-regular within-day gaps, the corrected burstiness of every account with enough
    gaps, and how many such accounts there are."""
    win = inp.events
    n_acc = len(win.accounts)
    rows = np.flatnonzero(~of_types(win.type, _BOOKKEEPING))
    if rows.size < 2:
        return np.zeros(n_acc, dtype=bool), np.zeros(0), 0
    # by account, then time: the window is in time order, so by account, then row (one
    # sort of (account, row) keys: a stable argsort's order, 5x faster)
    key = win.account[rows].astype(np.int64) * len(win) + rows
    key.sort()
    order = key % len(win)
    acc = win.account[order].astype(np.int64)
    ts = win.ts[order]
    day, _ = local_day_and_second(ts, inp.app.timezone)
    gap = np.diff(ts)
    keep = (acc[1:] == acc[:-1]) & (day[1:] == day[:-1]) & (gap <= st.max_gap_s)
    g_acc = acc[1:][keep]  # ascending: rows are by account
    g = gap[keep]
    # per account with a gap (numbered in code order), not per code of the whole table
    first = np.empty(g_acc.size, dtype=bool)
    first[:1] = True
    np.not_equal(g_acc[1:], g_acc[:-1], out=first[1:])
    with_gaps = g_acc[first]
    g_idx = np.cumsum(first) - 1
    n = np.bincount(g_idx, minlength=with_gaps.size)
    mean = np.bincount(g_idx, weights=g, minlength=with_gaps.size) / n
    sq = np.bincount(g_idx, weights=g * g, minlength=with_gaps.size) / n
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    b = corrected_burstiness(mean, std, n)
    eligible = (n >= st.min_gaps) & ~np.isnan(b)
    regular = np.zeros(n_acc, dtype=bool)
    regular[with_gaps[eligible & (b <= st.max_burstiness)]] = True
    return regular, b[eligible], int(eligible.sum())


def _codes_in(names: list[str], other: list[str], mask: np.ndarray) -> np.ndarray:
    """Codes into `names` of the accounts `mask` marks among the codes of `other`: the
    same codes where both are one table (analyze's shared tables), else by pseudonym
    (the daemon's rollups and raw windows code accounts independently)."""
    if other is names:
        return np.flatnonzero(mask).astype(np.int32)
    wanted = set(map(other.__getitem__, np.flatnonzero(mask).tolist()))
    return account_codes_by_name(names, wanted) if wanted else np.zeros(0, dtype=np.int32)


def _examples(inp: DetectorInput, sel: np.ndarray, codes: np.ndarray) -> dict[str, list[str]]:
    """First-action times (local HH:MM:SS) of the last days of a few clockwork accounts,
    the first by pseudonym, so an inspector can see what "clockwork" looks like."""
    ad = inp.account_days
    out: dict[str, list[str]] = {}
    names = sorted(ad.accounts[c] for c in codes.tolist())[:_EXAMPLE_ACCOUNTS]
    for name in names:
        c = ad.accounts.index(name)
        rows = np.flatnonzero(sel & (ad.account == c))[-_EXAMPLE_DAYS:]
        out[name] = [
            f"{day_to_date(int(ad.day[r])).isoformat()} {_hms(float(ad.first_s[r]))}"
            for r in rows.tolist()
        ]
    return out


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
