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
not forced unless everyone reads every day or just flicks it open.

Rituals can be dressed as work. A township app had an appointment feature for meeting
superiors; to keep the app "active", officials booked appointments with the leader
sitting across the desk, every day. An appointment is a meaningful event, so the signals
above do not see it; but nobody needs a meeting with the same person day after day:

* rote appointments (raw window): the share of appointments whose account booked the same
  target (the person met) on `rote_min_days` or more local days. Genuine bookings spread
  over people and weeks. Raises a finding by itself.

Keyed on the ISO week.

Sessions: a session_end with `duration_s` spans [ts - duration_s, ts]; one without it is
paired with the same account's preceding session_start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stacked import (
    account_days_column,
    account_days_stack,
    events_column,
    events_stack,
    in_day_span,
    local_days,
    owners_of,
)
from tapwatch.detectors.stats import (
    EVIDENCE_LIMIT,
    account_codes_by_name,
    bounded_event_ids,
    data_confidence,
    day_to_date,
    distinct_codes,
    exceedance_score,
    group_time_keys,
    histogram,
    iso_week,
    local_midnight,
    of_types,
    severity_for,
    unique_pairs,
)
from tapwatch.events import MEANINGFUL_TYPES, RITUAL_TYPES, EventType
from tapwatch.window import AccountDays, local_day_of

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
    rote_min_days: int = Field(
        default=3,
        ge=2,
        le=7,
        description="Local days of the raw window on which one account books the same target "
        "for its bookings to count as rote.",
    )
    rote_share_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of the raw window's appointments that are rote for a finding.",
    )
    min_appointments: int = Field(
        default=20, ge=1, description="Appointments in the raw window needed to judge them."
    )


@dataclass(slots=True)
class _Daily:
    """The look-back's daily figures (rollups)."""

    first: int  # first local day of the look-back
    today: int
    dau: np.ndarray  # active accounts per day of the look-back
    ritual_dau: np.ndarray  # of them, accounts whose day was only ritual
    shares: np.ndarray
    n_judged: int
    ritual_share: float
    depth: float
    mau: int
    stickiness: float


@dataclass(slots=True)
class _Sessions:
    """The raw window's sessions (only for an app whose days look like ritual)."""

    durations: np.ndarray  # session lengths
    short_share: float  # empty and short, of all (0 with fewer than min_sessions)
    n_sessions: int


@dataclass(slots=True)
class _Rote:
    """Appointments booked with the same target day after day (raw window)."""

    appointments: int
    rote_rows: np.ndarray  # event rows of the rote appointments
    accounts: np.ndarray  # account codes (into events.accounts) booking by rote
    pairs: int  # (account, target) pairs booked on rote_min_days or more days
    share: float


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """A finding when daily activity is mostly empty ritual or rote appointments (see the
    module docstring)."""
    return detect_batch([inp], settings)


def detect_batch(inputs: Sequence[DetectorInput], settings: Settings) -> list[Finding]:
    """`detect` of each app, the daily figures and rote appointments of all of them
    measured at once (stacked.py); the sessions and the finding only for an app that
    could have one."""
    st = settings
    dailies = _daily(inputs, st)
    rotes = _rote_appointments(inputs, st)
    out: list[Finding] = []
    for inp, daily, rote in zip(inputs, dailies, rotes, strict=True):
        ritual_days = daily is not None and _ritual_days(daily, st)
        if not ritual_days and rote is None:
            continue
        # the sessions are in the evidence of any finding with daily figures
        sessions = _sessions(inp, st) if daily is not None else None
        empty = _empty_ritual(daily, sessions, st) if ritual_days else None
        if empty is None and rote is None:
            continue
        out.append(_one(inp, st, daily, sessions, empty, rote))
    return out


def _one(
    inp: DetectorInput,
    st: Settings,
    daily: _Daily | None,
    sessions: _Sessions | None,
    empty: tuple[list[Reason], list[float], str] | None,
    rote: _Rote | None,
) -> Finding:
    """The finding of one app from whichever paths fired."""
    reasons: list[Reason] = []
    parts: list[float] = []
    summaries: list[str] = []
    if empty is not None:
        reasons += empty[0]
        parts += empty[1]
        summaries.append(empty[2])
    if rote is not None:
        reasons.append(
            Reason(
                code="rote_appointments",
                text=f"Share of appointments booked with the same person on "
                f"{st.rote_min_days} or more days of the raw window.",
                value=round(rote.share, 4),
                threshold=st.rote_share_threshold,
                rule=_RULE,
            )
        )
        parts.append(exceedance_score(rote.share, st.rote_share_threshold, 1.0))
        summaries.append(
            f"{rote.share:.0%} of {rote.appointments} appointments were booked by "
            f"{rote.accounts.size} accounts with the same person day after day (threshold "
            f"{st.rote_share_threshold:.0%}): bookings to keep the app active, not meetings"
        )
    ritual = daily if empty is not None else None
    return _finding(inp, st, daily, sessions, ritual, rote, (reasons, parts, summaries))


def _daily(inputs: Sequence[DetectorInput], st: Settings) -> list[_Daily | None]:
    """Each app's daily figures over the look-back; None for an app with fewer than
    `min_judged_days` judged days."""
    stack = account_days_stack(inputs)
    n, span = len(inputs), st.lookback_days
    today = np.array([local_day_of(i.now, i.app.timezone) for i in inputs], dtype=np.int64)
    day = account_days_column(inputs, "day")
    first = today - span
    sel = in_day_span(stack, day, first, span)
    sel &= account_days_column(inputs, "events") > 0
    rows = np.flatnonzero(sel)
    owner = owners_of(stack, rows)
    meaningful = account_days_column(inputs, "meaningful")[rows]
    ritual_day = (meaningful == 0) & (account_days_column(inputs, "study")[rows] == 0)
    # one bin per (app, day of the look-back)
    key = owner.astype(np.int64) * span + (day[rows] - first[owner])
    dau = np.bincount(key, minlength=n * span).reshape(n, span)
    ritual_dau = np.bincount(key[ritual_day], minlength=n * span).reshape(n, span)
    judged = dau >= st.min_daily_active
    n_judged = judged.sum(axis=1)
    shares = np.divide(ritual_dau, dau, out=np.zeros(dau.shape), where=dau > 0)
    # the median of each app's judged days: those first, in order, then the others
    ordered = np.sort(np.where(judged, shares, np.inf), axis=1)
    mid = np.arange(n)
    lo = np.maximum(n_judged - 1, 0) // 2
    median = (ordered[mid, lo] + ordered[mid, n_judged // 2]) / 2.0
    rows_per_app = stack.per_app(owner)
    depth = stack.per_app(owner, meaningful.astype(np.float64))
    codes = np.zeros(int(stack.account_starts[-1]) + 1, dtype=np.int64)
    codes[1:][stack.account_starts[owner] + account_days_column(inputs, "account")[rows]] = 1
    seen = np.cumsum(codes)
    mau = seen[stack.account_starts[1:]] - seen[stack.account_starts[:-1]]
    judged_dau = (dau * judged).sum(axis=1)
    out: list[_Daily | None] = []
    for k in range(n):
        nj = int(n_judged[k])
        if nj < st.min_judged_days:  # also an app without a row in the look-back
            out.append(None)
            continue
        out.append(
            _Daily(
                first=int(first[k]),
                today=int(today[k]),
                dau=dau[k],
                ritual_dau=ritual_dau[k],
                shares=shares[k],
                n_judged=nj,
                ritual_share=float(median[k]),
                depth=float(depth[k] / rows_per_app[k]),
                mau=int(mau[k]),
                stickiness=float(float(judged_dau[k]) / nj / int(mau[k])),
            )
        )
    return out


def _ritual_days(d: _Daily, st: Settings) -> bool:
    """Whether most days are ritual with no depth (the empty path's first two tests)."""
    return d.ritual_share >= st.ritual_share_threshold and d.depth <= st.max_depth


def _empty_ritual(
    d: _Daily, s: _Sessions, st: Settings
) -> tuple[list[Reason], list[float], str] | None:
    """(reasons, score parts, summary) when most days are empty ritual, else None."""
    if not _ritual_days(d, st):
        return None
    sticky = d.stickiness >= st.stickiness_threshold
    flicked = (
        s.n_sessions >= st.min_sessions and s.short_share >= st.short_session_share_threshold
    )
    if not (sticky or flicked):
        return None
    reasons = [
        Reason(
            code="ritual_share",
            text="Median daily share of active accounts whose day held only check-ins, likes, "
            "reads or bare sessions.",
            value=round(d.ritual_share, 4),
            threshold=st.ritual_share_threshold,
            rule=_RULE,
        ),
        Reason(
            code="low_depth",
            text="Meaningful actions per active account-day.",
            value=round(d.depth, 4),
            threshold=st.max_depth,
        ),
    ]
    parts = [exceedance_score(d.ritual_share, st.ritual_share_threshold, 1.0)]
    summary = (
        f"On a median day {d.ritual_share:.0%} of active accounts only checked in, liked, read "
        f"or opened the app (threshold {st.ritual_share_threshold:.0%}), with "
        f"{d.depth:.2f} meaningful actions per active account-day"
    )
    if sticky:
        reasons.append(
            Reason(
                code="everyone_every_day",
                text="Mean daily active accounts over accounts active in the look-back (DAU/MAU).",
                value=round(d.stickiness, 4),
                threshold=st.stickiness_threshold,
                rule=_RULE,
            )
        )
        parts.append(exceedance_score(d.stickiness, st.stickiness_threshold, 1.0))
        summary += f", and DAU/MAU is {d.stickiness:.2f}"
    if flicked:
        reasons.append(
            Reason(
                code="empty_short_sessions",
                text=f"Share of sessions under {st.short_session_s:g} s with no meaningful action.",
                value=round(s.short_share, 4),
                threshold=st.short_session_share_threshold,
            )
        )
        parts.append(exceedance_score(s.short_share, st.short_session_share_threshold, 1.0))
        summary += (
            f"; {s.short_share:.0%} of sessions were empty and under {st.short_session_s:g} s"
        )
    return reasons, parts, summary


def _rote_appointments(inputs: Sequence[DetectorInput], st: Settings) -> list[_Rote | None]:
    """Each app's appointments whose (account, target) was booked on `rote_min_days` or
    more local days of the raw window, where they reach `rote_share_threshold` of at
    least `min_appointments`; else None."""
    stack = events_stack(inputs)
    out: list[_Rote | None] = [None] * len(inputs)
    rows = np.flatnonzero(
        (events_column(inputs, "type") == EventType.appointment)
        & (events_column(inputs, "target") >= 0)
    )
    owner = stack.owner[rows]
    judged = stack.per_app(owner) >= st.min_appointments
    rows, owner = rows[judged[owner]], owner[judged[owner]]
    if rows.size == 0:
        return out
    day = local_days(inputs, owner, events_column(inputs, "ts")[rows])
    # (account, target) pairs in the stacked codings: no two apps share one
    _, pair = unique_pairs(
        stack.account_starts[owner] + events_column(inputs, "account")[rows],
        stack.string_starts[owner] + events_column(inputs, "target")[rows],
    )
    pair_days = unique_pairs(pair, day)[0][0]
    rote_pair = np.bincount(pair_days, minlength=int(pair.max()) + 1) >= st.rote_min_days
    rote = rote_pair[pair]
    appointments = stack.per_app(owner)
    share = stack.per_app(owner, rote.astype(np.float64)) / np.maximum(appointments, 1)
    pair_owner = np.zeros(rote_pair.size, dtype=np.int64)
    pair_owner[pair] = owner
    n_pairs = stack.per_app(pair_owner, rote_pair.astype(np.float64))
    # rows are in app order: each app's a run
    bounds = np.searchsorted(owner, np.arange(len(inputs) + 1))
    for k in np.flatnonzero(judged & (share >= st.rote_share_threshold)).tolist():
        mine = slice(int(bounds[k]), int(bounds[k + 1]))
        rote_rows = rows[mine][rote[mine]] - stack.starts[k]
        out[k] = _Rote(
            appointments=int(appointments[k]),
            rote_rows=rote_rows,
            accounts=np.unique(inputs[k].events.account[rote_rows]),
            pairs=int(n_pairs[k]),
            share=float(share[k]),
        )
    return out


def _finding(
    inp: DetectorInput,
    st: Settings,
    daily: _Daily | None,
    sessions: _Sessions | None,
    empty: _Daily | None,
    rote: _Rote | None,
    said: tuple[list[Reason], list[float], list[str]],
) -> Finding:
    """The finding from whichever paths fired: `empty` (the daily figures, when the empty
    ritual path fired) and `rote`; `said` holds their reasons, score parts and summaries.
    `sessions` are there wherever `daily` is."""
    reasons, parts, summaries = said
    win = inp.events
    tz = inp.app.timezone
    today = local_day_of(inp.now, tz)
    score = round(float(np.mean(parts)), 3)
    names: set[str] = set()
    ev_rows = np.zeros(0, dtype=np.int64)
    evidence: dict[str, object] = {"period": iso_week(today - 1)}
    if daily is not None:
        assert sessions is not None
        evidence |= {
            "daily_ritual_share": [
                {
                    "date": day_to_date(daily.first + i).isoformat(),
                    "active": int(daily.dau[i]),
                    "ritual_only": int(daily.ritual_dau[i]),
                    "share": round(float(daily.shares[i]), 4),
                }
                for i in range(st.lookback_days)
                if daily.dau[i] > 0
            ],
            "ritual_share": round(daily.ritual_share, 4),
            "stickiness": round(daily.stickiness, 4),
            "depth": round(daily.depth, 4),
            "accounts_active": daily.mau,
            "session_length_histogram": histogram(sessions.durations, _SESSION_EDGES),
            "empty_short_session_share": round(sessions.short_share, 4),
        }
    if empty is not None:
        ad = inp.account_days
        names |= {ad.accounts[c] for c in _ritual_accounts(ad, empty).tolist()}
        ev_rows = np.flatnonzero(
            of_types(win.type, _RITUAL)
            & np.isin(win.account, account_codes_by_name(win.accounts, names))
        )
    if rote is not None:
        names |= {win.accounts[c] for c in rote.accounts.tolist()}
        ev_rows = np.union1d(ev_rows, rote.rote_rows)
        evidence["rote_appointments"] = {
            "appointments": rote.appointments,
            "rote": int(rote.rote_rows.size),
            "share": round(rote.share, 4),
            "accounts": int(rote.accounts.size),
            "account_target_pairs": rote.pairs,
            "min_days": st.rote_min_days,
        }
    accounts = sorted(names)
    if empty is not None:
        start = local_midnight(tz, empty.first)
        end = local_midnight(tz, empty.today)
        confidence = data_confidence(
            (empty.n_judged, 20), (empty.mau, 20), (sessions.n_sessions, st.min_sessions)
        )
    else:
        assert rote is not None
        start = float(win.ts[rote.rote_rows].min())
        end = inp.now
        confidence = data_confidence(
            (rote.appointments, 2 * st.min_appointments), (rote.accounts.size, 10)
        )
    return Finding(
        id=finding_id(KIND, inp.app.id, evidence["period"]),
        kind=KIND,
        app=inp.app.id,
        severity=severity_for(score),
        score=score,
        window_start=start,
        window_end=end,
        summary="; ".join(summaries) + ".",
        reasons=reasons,
        evidence={
            **evidence,
            "accounts": accounts[:EVIDENCE_LIMIT],
            "accounts_total": len(accounts),
            **bounded_event_ids(win, ev_rows),
        },
        confidence=confidence,
    )


def _ritual_accounts(ad: AccountDays, d: _Daily) -> np.ndarray:
    """Accounts (codes into `ad.accounts`) whose days in the look-back were all ritual:
    the ritual population, listed by pseudonym for the inspector (not ranked)."""
    sel = (ad.day >= d.first) & (ad.day < d.today) & (ad.events > 0)
    acc = ad.account[sel]
    not_ritual = np.zeros(len(ad.accounts), dtype=bool)
    not_ritual[acc[(ad.meaningful[sel] != 0) | (ad.study[sel] != 0)]] = True
    return distinct_codes(acc[~not_ritual[acc]], len(ad.accounts))


def _sessions(inp: DetectorInput, st: Settings) -> _Sessions:
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
    m_rows = np.flatnonzero(of_types(win.type, _MEANINGFUL))
    m_key, b_key, e_key = group_time_keys(
        (win.account[m_rows], win.ts[m_rows]),
        (win.account[ends], begin),
        (win.account[ends], win.ts[ends]),
    )
    m_key.sort()
    inside = np.searchsorted(m_key, e_key, side="right") - np.searchsorted(
        m_key, b_key, side="left"
    )
    empty_short = (dur < st.short_session_s) & (inside == 0)
    n = int(dur.size)
    return _Sessions(
        durations=dur,
        short_share=float(empty_short.mean()) if n >= st.min_sessions else 0.0,
        n_sessions=n,
    )
