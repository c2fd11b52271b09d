"""Ritual usage: accounts that open the app every day and do nothing in it.

One official followed ~20 government official accounts and was told to open each one
every day so that "the back-end numbers look good". Such usage looks like engagement on a
daily-active chart and is empty underneath: the only actions are check-ins, likes or
reads, sessions last a few seconds, and nearly everyone is active nearly every day.

Signals (app-level shares, over the last `lookback_days` complete local days):

* ritual share: of each day's active accounts, the share whose day held no meaningful
  action (form, appointment, other work action) and no study; the median over the days
  with at least `min_daily_active` active accounts;
* stickiness: mean daily active accounts / accounts active in the look-back (DAU/MAU).
  Voluntary apps sit around 0.1-0.3; ~1 means everyone shows up every day;
* depth: meaningful actions per active account-day;
* empty short sessions (raw window): sessions shorter than `short_session_s` with no
  meaningful action inside. A human who opens an app to do something needs more than a
  few seconds to read a screen and tap; ~10 s is the "open, check in, close" ritual.

A finding needs a high ritual share and low depth, together with either high stickiness
or mostly empty short sessions: a news app whose readers only read is ritual-shaped, but
not forced unless everyone reads every day or just flicks it open. Keyed on the ISO week.

Sessions: a session_end with `duration_s` spans [ts - duration_s, ts]; one without it is
paired with the same account's preceding session_start.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stats import (
    account_codes_by_name,
    bounded_accounts,
    bounded_event_ids,
    data_confidence,
    day_to_date,
    exceedance_score,
    group_time_keys,
    histogram,
    iso_week,
    local_midnight,
    severity_for,
)
from tapwatch.events import MEANINGFUL_TYPES, RITUAL_TYPES, EventType
from tapwatch.window import local_day_of

KIND = "ritual_usage"
_RULE = "2026 management measures: no mandatory periodic logins or check-ins"
_SESSION_EDGES = [0.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, float("inf")]
_MEANINGFUL = np.array(sorted(int(t) for t in MEANINGFUL_TYPES), dtype=np.uint8)
_RITUAL = np.array(sorted(int(t) for t in RITUAL_TYPES), dtype=np.uint8)


class Settings(BaseModel):
    """Settings of the ritual-usage detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lookback_days: int = Field(
        default=28, ge=7, le=120, description="Complete local days judged (also the 'MAU' span)."
    )
    min_daily_active: int = Field(
        default=5, ge=1, description="Days with fewer active accounts are not judged."
    )
    min_judged_days: int = Field(
        default=7, ge=1, description="Judged days needed before a finding can be raised."
    )
    ritual_share_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Median daily share of active accounts with only check-ins, likes, reads "
        "or bare sessions.",
    )
    max_depth: float = Field(
        default=0.5,
        ge=0.0,
        description="Meaningful actions per active account-day at or below which usage has "
        "no depth.",
    )
    stickiness_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Mean daily active / look-back active accounts (DAU/MAU) that counts as "
        "'everyone, every day'.",
    )
    short_session_s: float = Field(
        default=10.0,
        gt=0.0,
        le=120.0,
        description="Sessions shorter than this with no meaningful action are empty rituals.",
    )
    short_session_share_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of sessions in the raw window that are empty and short.",
    )
    min_sessions: int = Field(
        default=30, ge=1, description="Sessions needed before the session signal is used."
    )


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """A finding when daily activity is mostly empty ritual (see the module docstring)."""
    st = settings
    ad = inp.account_days
    today = local_day_of(inp.now, inp.app.timezone)
    first = today - st.lookback_days
    sel = (ad.day >= first) & (ad.day < today) & (ad.events > 0)
    if not sel.any():
        return []
    rel = ad.day[sel].astype(np.int64) - first
    ritual_day = (ad.meaningful[sel] == 0) & (ad.study[sel] == 0)
    dau = np.bincount(rel, minlength=st.lookback_days)
    ritual_dau = np.bincount(rel[ritual_day], minlength=st.lookback_days)
    judged = dau >= st.min_daily_active
    n_judged = int(judged.sum())
    if n_judged < st.min_judged_days:
        return []
    shares = np.divide(ritual_dau, dau, out=np.zeros(dau.shape), where=dau > 0)
    ritual_share = float(np.median(shares[judged]))
    depth = float(ad.meaningful[sel].sum() / sel.sum())
    mau = int(np.unique(ad.account[sel]).size)
    stickiness = float(dau[judged].mean() / mau)

    sessions = _sessions(inp, st)
    n_sessions = int(sessions["durations"].size)
    empty_short = sessions["empty_short"]
    short_share = float(empty_short.mean()) if n_sessions >= st.min_sessions else 0.0

    if ritual_share < st.ritual_share_threshold or depth > st.max_depth:
        return []
    sticky = stickiness >= st.stickiness_threshold
    flicked = n_sessions >= st.min_sessions and short_share >= st.short_session_share_threshold
    if not (sticky or flicked):
        return []

    reasons = [
        Reason(
            code="ritual_share",
            text="Median daily share of active accounts whose day held only check-ins, likes, "
            "reads or bare sessions.",
            value=round(ritual_share, 4),
            threshold=st.ritual_share_threshold,
            rule=_RULE,
        ),
        Reason(
            code="low_depth",
            text="Meaningful actions per active account-day.",
            value=round(depth, 4),
            threshold=st.max_depth,
        ),
    ]
    parts = [exceedance_score(ritual_share, st.ritual_share_threshold, 1.0)]
    if sticky:
        reasons.append(
            Reason(
                code="everyone_every_day",
                text="Mean daily active accounts over accounts active in the look-back (DAU/MAU).",
                value=round(stickiness, 4),
                threshold=st.stickiness_threshold,
                rule=_RULE,
            )
        )
        parts.append(exceedance_score(stickiness, st.stickiness_threshold, 1.0))
    if flicked:
        reasons.append(
            Reason(
                code="empty_short_sessions",
                text=f"Share of sessions under {st.short_session_s:g} s with no meaningful action.",
                value=round(short_share, 4),
                threshold=st.short_session_share_threshold,
            )
        )
        parts.append(exceedance_score(short_share, st.short_session_share_threshold, 1.0))
    score = round(float(np.mean(parts)), 3)

    week = iso_week(today - 1)
    # Accounts whose days in the look-back were all ritual: the ritual population, listed
    # by pseudonym for the inspector (not ranked).
    acc = ad.account[sel]
    not_ritual = np.zeros(len(ad.accounts), dtype=bool)
    not_ritual[acc[~ritual_day]] = True
    ritual_accounts = np.unique(acc[~not_ritual[acc]])
    win = inp.events
    ritual_names = {ad.accounts[c] for c in ritual_accounts.tolist()}
    ev_rows = np.flatnonzero(
        np.isin(win.type, _RITUAL)
        & np.isin(win.account, account_codes_by_name(win.accounts, ritual_names))
    )
    daily = [
        {
            "date": day_to_date(first + i).isoformat(),
            "active": int(dau[i]),
            "ritual_only": int(ritual_dau[i]),
            "share": round(float(shares[i]), 4),
        }
        for i in range(st.lookback_days)
        if dau[i] > 0
    ]
    summary = (
        f"On a median day {ritual_share:.0%} of active accounts only checked in, liked, read "
        f"or opened the app (threshold {st.ritual_share_threshold:.0%}), with "
        f"{depth:.2f} meaningful actions per active account-day"
    )
    if sticky:
        summary += f", and DAU/MAU is {stickiness:.2f}"
    if flicked:
        summary += f"; {short_share:.0%} of sessions were empty and under {st.short_session_s:g} s"
    return [
        Finding(
            id=finding_id(KIND, inp.app.id, week),
            kind=KIND,
            app=inp.app.id,
            severity=severity_for(score),
            score=score,
            window_start=local_midnight(inp.app.timezone, first),
            window_end=local_midnight(inp.app.timezone, today),
            summary=summary + ".",
            reasons=reasons,
            evidence={
                "period": week,
                "daily_ritual_share": daily,
                "ritual_share": round(ritual_share, 4),
                "stickiness": round(stickiness, 4),
                "depth": round(depth, 4),
                "accounts_active": mau,
                "session_length_histogram": histogram(sessions["durations"], _SESSION_EDGES),
                "empty_short_session_share": round(short_share, 4),
                **bounded_accounts(ad.accounts, ritual_accounts),
                **bounded_event_ids(win, ev_rows),
            },
            confidence=data_confidence((n_judged, 20), (mau, 20), (n_sessions, st.min_sessions)),
        )
    ]


def _sessions(inp: DetectorInput, st: Settings) -> dict[str, np.ndarray]:
    """Durations of the raw window's sessions and whether each is empty and short."""
    win = inp.events
    ends = np.flatnonzero(win.type == EventType.session_end)
    starts = np.flatnonzero(win.type == EventType.session_start)
    dur = win.duration_s[ends].astype(np.float64)
    begin = win.ts[ends] - dur
    missing = np.isnan(dur)
    if missing.any() and starts.size:
        # Pair with the same account's latest start at or before the end.
        s_key, e_key = group_time_keys(
            (win.account[starts], win.ts[starts]), (win.account[ends], win.ts[ends])
        )
        order = np.argsort(s_key, kind="stable")
        pos = np.searchsorted(s_key[order], e_key, side="right") - 1
        cand = starts[order[np.maximum(pos, 0)]]
        fill = missing & (pos >= 0) & (win.account[cand] == win.account[ends])
        begin[fill] = win.ts[cand[fill]]
        dur[fill] = win.ts[ends[fill]] - begin[fill]
    have = ~np.isnan(dur)
    ends, begin, dur = ends[have], begin[have], dur[have]
    # Meaningful actions of the same account inside [begin, end].
    m_rows = np.flatnonzero(np.isin(win.type, _MEANINGFUL))
    m_key, b_key, e_key = group_time_keys(
        (win.account[m_rows], win.ts[m_rows]),
        (win.account[ends], begin),
        (win.account[ends], win.ts[ends]),
    )
    m_key.sort()
    inside = np.searchsorted(m_key, e_key, side="right") - np.searchsorted(
        m_key, b_key, side="left"
    )
    return {"durations": dur, "empty_short": (dur < st.short_session_s) & (inside == 0)}
