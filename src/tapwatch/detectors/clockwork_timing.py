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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stacked import (
    Stack,
    account_days_column,
    account_days_stack,
    events_column,
    events_stack,
    in_day_span,
    local_days,
    owners_of,
)
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
    return detect_batch([inp], settings)


@dataclass(slots=True)
class _Measures:
    """Both tests for every account of several apps, in the stacked codings (stacked.py):
    the rollups' accounts for first actions, the raw windows' for gaps."""

    days: Stack  # the account-day rollups' stack
    events: Stack  # the raw windows' stack
    today: np.ndarray  # per app
    sel: np.ndarray  # rollup rows in the look-back with events
    active: np.ndarray  # per rollup account
    spread: np.ndarray  # per rollup account: robust spread of the first action (NaN: fewer
    # than min_days active days)
    eligible_first: np.ndarray  # per rollup account: min_days or more active days
    steady: np.ndarray  # per rollup account
    regular: np.ndarray  # per window account: machine-regular gaps
    b_values: np.ndarray  # corrected burstiness of the window accounts with min_gaps
    b_owner: np.ndarray  # the app of each of b_values


def detect_batch(inputs: Sequence[DetectorInput], settings: Settings) -> list[Finding]:
    """`detect` of each app, both tests measured for every app at once (stacked.py); the
    finding only for an app that has one."""
    st = settings
    m = _measures(inputs, st)
    n_active = _per_app(m.days, m.active)
    n_regular_gaps = np.bincount(m.b_owner, minlength=len(inputs))
    out: list[Finding] = []
    for k in np.flatnonzero(n_active > 0).tolist():
        inp = inputs[k]
        own = m.days.accounts(k)
        clockwork = m.steady[own].copy()
        regular = m.regular[m.events.accounts(k)]
        if regular.any():
            clockwork[_codes_in(inp.account_days.accounts, inp.events.accounts, regular)] = True
        clockwork &= m.active[own]  # shares are of the look-back's active accounts
        n_clockwork = int(np.count_nonzero(clockwork))
        share = n_clockwork / int(n_active[k])
        if n_clockwork < st.min_accounts or share < st.share_threshold:
            continue
        out.append(
            _finding(inp, st, m, k, clockwork, (share, int(n_active[k]), int(n_regular_gaps[k])))
        )
    return out


def _per_app(stack: Stack, mask: np.ndarray) -> np.ndarray:
    """How many codes `mask` marks in each app's part of the stacked account coding."""
    seen = np.zeros(mask.size + 1, dtype=np.int64)
    np.cumsum(mask, out=seen[1:])
    return seen[stack.account_starts[1:]] - seen[stack.account_starts[:-1]]


def _measures(inputs: Sequence[DetectorInput], st: Settings) -> _Measures:
    days = account_days_stack(inputs)
    today = np.array([local_day_of(i.now, i.app.timezone) for i in inputs], dtype=np.int64)
    first = today - st.lookback_days
    sel = in_day_span(days, account_days_column(inputs, "day"), first, st.lookback_days)
    sel &= account_days_column(inputs, "events") > 0
    rows = np.flatnonzero(sel)
    n_acc = int(days.account_starts[-1])
    acc = days.account_starts[owners_of(days, rows)] + account_days_column(inputs, "account")[rows]
    n_days = np.bincount(acc, minlength=n_acc)
    eligible_first = n_days >= st.min_days
    # First action of the day: robust spread per account with enough days (all active),
    # measured over those accounts' rows only: a group's median is its own, and most
    # accounts have fewer days (a dump's 200k accounts: 1,501 of 605k look-back rows)
    # (numbered among those accounts: the grouping's arrays are a few thousand, not 200k)
    keep = eligible_first[acc]
    eligible = np.flatnonzero(eligible_first)
    spread = np.full(n_acc, np.nan)
    spread[eligible] = grouped_mad(
        np.searchsorted(eligible, acc[keep]),
        account_days_column(inputs, "first_s")[rows[keep]],
        eligible.size,
    )
    events = events_stack(inputs)
    regular, b_values, b_owner = _regular_accounts(inputs, events, st)
    return _Measures(
        days=days,
        events=events,
        today=today,
        sel=sel,
        active=n_days > 0,
        spread=spread,
        eligible_first=eligible_first,
        steady=eligible_first & (spread <= st.max_first_action_spread_s),
        regular=regular,
        b_values=b_values,
        b_owner=b_owner,
    )


def _finding(
    inp: DetectorInput,
    st: Settings,
    m: _Measures,
    k: int,
    clockwork: np.ndarray,
    counts: tuple[float, int, int],
) -> Finding:
    """App k's finding; `clockwork` marks its clockwork accounts (rollup codes), `counts`
    are its share of them, its active accounts and its accounts with enough gaps."""
    share, n_active, n_eligible_gaps = counts
    ad, win = inp.account_days, inp.events
    own = m.days.accounts(k)
    today = int(m.today[k])
    first = today - st.lookback_days
    steady, eligible_first = m.steady[own], m.eligible_first[own]
    regular = m.regular[m.events.accounts(k)]
    regular_ad = _codes_in(ad.accounts, win.accounts, regular)
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
    n_regular = int(np.count_nonzero(m.active[own][regular_ad]))
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
    n_clockwork = clock_codes_ad.size
    summary = (
        f"{n_clockwork} of {n_active} active accounts ({share:.0%}, "
        f"threshold {st.share_threshold:.0%}) keep clockwork time: {n_steady} start each day "
        f"within {st.max_first_action_spread_s / 60:g} min, {n_regular} "
        f"act at machine-regular intervals."
    )
    return Finding(
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
                m.spread[own][eligible_first] / 60.0, _SPREAD_EDGES_MIN
            ),
            "burstiness_histogram": histogram(m.b_values[m.b_owner == k], _BURSTINESS_EDGES),
            "example_first_actions": _examples(inp, m.sel[m.days.rows(k)], clock_codes_ad),
            **bounded_accounts(ad.accounts, clock_codes_ad),
            **bounded_event_ids(win, ev_rows),
        },
        confidence=data_confidence(
            (int(eligible_first.sum()) + n_eligible_gaps, 20), (n_active, 20)
        ),
    )


def _regular_accounts(
    inputs: Sequence[DetectorInput], stack: Stack, st: Settings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which accounts of the raw windows (a mask over the stacked account codes) have
    machine-regular within-day gaps, and the corrected burstiness of every account with
    enough gaps, with the app of each (`stack`: the windows' stack)."""
    n_acc, n_rows = int(stack.account_starts[-1]), int(stack.starts[-1])
    rows = np.flatnonzero(~of_types(events_column(inputs, "type"), _BOOKKEEPING))
    owner = stack.owner[rows]
    account = stack.account_starts[owner] + events_column(inputs, "account")[rows]
    # by account, then time: each window is in time order, so by account, then row (one
    # sort of (account, row) keys: a stable argsort's order, 5x faster)
    if n_acc * n_rows < 2**62:
        key = account * n_rows + rows
        key.sort()
        acc, order = np.divmod(key, n_rows)
    else:
        by = np.lexsort((rows, account))
        order, acc = rows[by], account[by]
    ts = events_column(inputs, "ts")[order]
    day = local_days(inputs, stack.owner[order], ts)
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
    b_owner = np.searchsorted(stack.account_starts, with_gaps[eligible], side="right") - 1
    return regular, b[eligible], b_owner


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
