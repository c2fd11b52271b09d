"""Study inflation: credited study time that no person could have spent.

An online cadre academy required 500 study hours; at year end, with county rankings
looming, people fast-forwarded videos and learned nothing. Study platforms count time, so
time is what gets faked: several courses left playing at once, videos at double speed,
pages left open exactly until the credit ticks, and a December rush.

A study event credits `duration_s` seconds ending at its `ts` (the timer reports when it
stops, as session_end does). Playing a video at up to 2x is ordinary (many learners do),
so the event's wall-clock interval is [ts - duration_s / rate, ts], with the reported
`playback_rate`, or the ordinary maximum rate when none is reported (the most lenient
reading). When the same account opened the same `target` (course) with a session_start
inside that interval, the lesson cannot have begun before it: the interval is
[session_start, ts]. This is how one fast-forwarded lesson (60 min credited 8 min after it
was opened) shows up even when the app does not report a playback rate.

Signals over the raw window (one finding keyed on the ISO week, raised by any of them):

* credited beyond wall clock: per account and local day, the credit no person could have
  earned: each event's credit beyond `allowed_playback_rate` x its own interval (high
  multiples), plus the wall-clock time counted twice by overlapping intervals (parallel
  sessions: one person studies one thing at a time). An account-day is inflated when that
  excess reaches `min_excess_s`. App-level share of studying account-days.
* fast playback: share of study events with `playback_rate` above the ordinary rate.
* threshold pile-up: for each candidate credit threshold T (`credit_thresholds_s`), the
  share of study durations in (T + 1 s, T x (1 + band)], against those in
  [T x (1 - band), T). Organic dwell times spread over minutes (log-normal), so a 5% band
  holds a few percent of them; a pile-up just above T with a gap just below means people
  wait for the credit and leave. Durations of exactly T (a lesson credited at its full,
  standard length) are not counted as piling up.

And from the daily rollups (one finding keyed on the year):

* year-end surge: credited study seconds per calendar day in the year-end month against
  the days before it.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stats import (
    EVIDENCE_LIMIT,
    bounded_accounts,
    bounded_event_ids,
    data_confidence,
    date_to_day,
    day_to_date,
    exceedance_score,
    group_time_keys,
    histogram,
    iso_week,
    local_day_and_second,
    local_midnight,
    severity_for,
    unique_pairs,
)
from tapwatch.events import EventType
from tapwatch.window import EventWindow, local_day_of

KIND = "study_inflation"
_RULE = "2026 management measures: no online-duration counters; study time not scored"
_RATE_EDGES = [0.0, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 3.0, 4.0, float("inf")]
_PILEUP_EDGES = [round(0.8 + 0.01 * i, 2) for i in range(41)]  # duration / threshold


class Settings(BaseModel):
    """Settings of the study-inflation detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_playback_rate: float = Field(
        default=2.0,
        gt=0.0,
        description="Highest ordinary playback rate (learners commonly watch at 1.25-2x); "
        "credit beyond it is inflation.",
    )
    fast_share_threshold: float = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="Share of study events above the allowed playback rate for a finding.",
    )
    min_excess_s: float = Field(
        default=300.0,
        ge=0.0,
        description="Credit an account-day got beyond what ordinary playback and one lesson "
        "at a time explain, that marks it inflated (absorbs clock skew and rounding).",
    )
    inflated_share_threshold: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="Share of studying account-days credited beyond wall clock for a finding.",
    )
    min_study_events: int = Field(
        default=30, ge=1, description="Study events in the raw window needed to judge it."
    )
    credit_thresholds_s: tuple[float, ...] = Field(
        default=(60.0, 180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0),
        description="Candidate dwell times after which a platform credits study.",
    )
    pileup_band: float = Field(
        default=0.05, gt=0.0, le=0.5, description="Band above a threshold, as a fraction of it."
    )
    pileup_share_threshold: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="Share of page-dwell durations in the band just above one threshold.",
    )
    pileup_ratio: float = Field(
        default=5.0,
        gt=1.0,
        description="Durations in the band above the threshold over those in the band below.",
    )
    min_dwell_events: int = Field(
        default=30, ge=1, description="Study events needed for the pile-up test."
    )
    year_end_month: int = Field(
        default=12, ge=1, le=12, description="Month of the year-end study rush."
    )
    min_year_end_days: int = Field(
        default=7, ge=1, le=31, description="Complete days of that month needed to judge it."
    )
    year_end_baseline_days: int = Field(
        default=90,
        ge=14,
        le=110,
        description="Days before that month whose average is the baseline (about three "
        "months; fewer when tapwatch has less history, but at least half).",
    )
    year_end_ratio: float = Field(
        default=2.0,
        gt=1.0,
        description="Year-end credited study seconds per day over the baseline's.",
    )
    min_year_end_study_s: float = Field(
        default=36000.0,
        ge=0.0,
        description="Credited seconds in the year-end month needed to judge it (10 h).",
    )


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """Findings for study time credited beyond what people could have spent."""
    out = []
    f = _raw_window(inp, settings)
    if f is not None:
        out.append(f)
    f = _year_end(inp, settings)
    if f is not None:
        out.append(f)
    return out


def _raw_window(inp: DetectorInput, st: Settings) -> Finding | None:
    win = inp.events
    rows = np.flatnonzero((win.type == EventType.study) & (win.duration_s > 0))
    if rows.size < st.min_study_events:
        return None
    tz = inp.app.timezone
    dur = win.duration_s[rows].astype(np.float64)
    end = win.ts[rows]
    acc = win.account[rows].astype(np.int64)
    rate = win.playback_rate[rows].astype(np.float64)
    has_rate = ~np.isnan(rate)
    played_at = np.where(has_rate & (rate > 0), rate, st.allowed_playback_rate)
    start = _lesson_starts(win, rows, end - dur / played_at)
    day, _ = local_day_and_second(end, tz)

    # Union of each account's intervals: sweep in (account, start) order with a running
    # maximum of ends; keys keep accounts apart in one flat array.
    s_key, e_key = group_time_keys((acc, start), (acc, end))
    order = np.argsort(s_key, kind="stable")
    sk, ek = s_key[order], e_key[order]
    reach = np.maximum.accumulate(ek)
    prev_reach = np.concatenate(([-np.inf], reach[:-1]))
    new_cover = np.clip(ek - np.maximum(sk, prev_reach), 0.0, None)
    wall = np.empty_like(new_cover)
    wall[order] = new_cover
    overlapping = np.zeros(rows.size, dtype=bool)
    overlapping[order] = prev_reach > sk + 1.0  # a second of slack for timestamp rounding
    own = end - start
    # credit beyond ordinary playback of the event's own interval, and time counted twice
    excess = np.clip(dur - st.allowed_playback_rate * own, 0.0, None) + (own - wall)

    # Per account-day credit against wall clock.
    pair, pair_idx = unique_pairs(day, acc)
    credited_ad = np.bincount(pair_idx, weights=dur)
    wall_ad = np.bincount(pair_idx, weights=wall)
    excess_ad = np.bincount(pair_idx, weights=excess)
    inflated_ad = excess_ad >= st.min_excess_s
    inflated_share = float(inflated_ad.mean())

    fast = has_rate & (rate > st.allowed_playback_rate + 1e-6)
    fast_share = float(fast.sum() / rows.size)

    pile = _pileup(dur, st)

    reasons: list[Reason] = []
    parts: list[float] = []
    implicated = np.zeros(rows.size, dtype=bool)
    if inflated_share >= st.inflated_share_threshold:
        reasons.append(
            Reason(
                code="credited_beyond_wall_clock",
                text=f"Share of studying account-days credited more than "
                f"{st.min_excess_s:g} s beyond what one lesson at a time at up to "
                f"{st.allowed_playback_rate:g}x explains (parallel or fast-forwarded "
                "sessions).",
                value=round(inflated_share, 4),
                threshold=st.inflated_share_threshold,
                rule=_RULE,
            )
        )
        parts.append(exceedance_score(inflated_share, st.inflated_share_threshold, 0.5))
        implicated |= inflated_ad[pair_idx]
    if fast_share >= st.fast_share_threshold:
        reasons.append(
            Reason(
                code="playback_above_allowed",
                text=f"Share of study events played faster than {st.allowed_playback_rate:g}x "
                "(beyond ordinary fast viewing).",
                value=round(fast_share, 4),
                threshold=st.fast_share_threshold,
                rule=_RULE,
            )
        )
        parts.append(exceedance_score(fast_share, st.fast_share_threshold, 0.5))
        implicated |= fast
    if pile is not None:
        thr, share, ratio = pile["threshold_s"], pile["share"], pile["ratio"]
        reasons.append(
            Reason(
                code="threshold_pileup",
                text=f"Share of study durations within {st.pileup_band:.0%} above "
                f"{thr:g} s ({ratio:.1f}x those just below it).",
                value=round(share, 4),
                threshold=st.pileup_share_threshold,
                rule=_RULE,
            )
        )
        parts.append(exceedance_score(share, st.pileup_share_threshold, 1.0))
        implicated |= (dur > thr + 1.0) & (dur <= thr * (1 + st.pileup_band))
    if not reasons:
        return None

    score = round(max(parts), 3)
    today = local_day_of(inp.now, tz)
    week = iso_week(today)
    d_uniq, d_idx = np.unique(pair[0], return_inverse=True)
    day_credit = np.bincount(d_idx, weights=credited_ad)
    day_wall = np.bincount(d_idx, weights=wall_ad)
    day_excess = np.bincount(d_idx, weights=excess_ad)
    day_pairs = np.bincount(d_idx)
    day_inflated = np.bincount(d_idx, weights=inflated_ad.astype(np.float64))
    per_day = [
        {
            "date": day_to_date(d).isoformat(),
            "credited_s": round(float(day_credit[i]), 1),
            "wall_clock_s": round(float(day_wall[i]), 1),
            "excess_s": round(float(day_excess[i]), 1),
            "account_days": int(day_pairs[i]),
            "inflated_account_days": int(day_inflated[i]),
        }
        for i, d in enumerate(d_uniq.tolist())
    ]
    summary = "Study credit beyond what people could spend: " + "; ".join(
        _phrase(r) for r in reasons
    )
    return Finding(
        id=finding_id(KIND, inp.app.id, week),
        kind=KIND,
        app=inp.app.id,
        severity=severity_for(score),
        score=score,
        window_start=float(win.ts[rows[0]]),
        window_end=inp.now,
        summary=summary + ".",
        reasons=reasons,
        evidence={
            "period": week,
            "credit_vs_wall_clock": per_day,
            "inflated_account_day_share": round(inflated_share, 4),
            "account_day_points": _points(win.accounts, pair, credited_ad, wall_ad),
            "overlapping_study_events": int(overlapping.sum()),
            "fast_playback_share": round(fast_share, 4),
            "playback_rate_histogram": histogram(rate[has_rate], _RATE_EDGES),
            "threshold_pileup": pile,
            **bounded_accounts(win.accounts, acc[implicated]),
            **bounded_event_ids(win, rows[implicated]),
        },
        confidence=data_confidence((rows.size, 10 * st.min_study_events), (credited_ad.size, 50)),
    )


def _points(
    accounts: list[str], pair: np.ndarray, credited: np.ndarray, wall: np.ndarray
) -> list[list[float]]:
    """Anonymous (credited_s, wall_clock_s) points per account-day for a scatter chart,
    ordered by day and pseudonym (account codes depend on arrival order), bounded."""
    name_rank = np.argsort(np.argsort(np.array(accounts)))
    order = np.lexsort((name_rank[pair[1]], pair[0]))[:EVIDENCE_LIMIT]
    return [[round(float(credited[i]), 1), round(float(wall[i]), 1)] for i in order.tolist()]


def _phrase(r: Reason) -> str:
    return {
        "credited_beyond_wall_clock": f"{r.value:.0%} of studying account-days credited beyond "
        f"wall-clock time (threshold {r.threshold:.0%})",
        "playback_above_allowed": f"{r.value:.0%} of study events above the ordinary playback "
        f"rate (threshold {r.threshold:.0%})",
        "threshold_pileup": f"{r.value:.0%} of study durations piled just above a credit "
        f"threshold (threshold {r.threshold:.0%})",
    }[r.code]


def _lesson_starts(win: EventWindow, rows: np.ndarray, claimed: np.ndarray) -> np.ndarray:
    """Start of each study event's wall-clock interval: its claimed start, or the latest
    session_start of the same account and target after it (the lesson was opened then)."""
    opens = np.flatnonzero((win.type == EventType.session_start) & (win.target >= 0))
    if opens.size == 0:
        return claimed
    both = np.concatenate((opens, rows))
    _, pair = unique_pairs(win.account[both], win.target[both])
    g_open, g_study = pair[: opens.size], pair[opens.size :]
    o_key, s_key = group_time_keys((g_open, win.ts[opens]), (g_study, win.ts[rows]))
    order = np.argsort(o_key, kind="stable")
    pos = np.searchsorted(o_key[order], s_key, side="right") - 1
    cand = opens[order[np.maximum(pos, 0)]]
    same = (pos >= 0) & (g_open[order[np.maximum(pos, 0)]] == g_study)
    return np.where(same & (win.ts[cand] > claimed), win.ts[cand], claimed)


def _pileup(dwell: np.ndarray, st: Settings) -> dict[str, object] | None:
    """The strongest pile-up of study durations just above a candidate credit threshold."""
    if dwell.size < st.min_dwell_events or not st.credit_thresholds_s:
        return None
    thr = np.asarray(st.credit_thresholds_s, dtype=np.float64)
    d = dwell[:, None]
    above = ((d > thr + 1.0) & (d <= thr * (1 + st.pileup_band))).sum(axis=0)
    below = ((d >= thr * (1 - st.pileup_band)) & (d < thr)).sum(axis=0)
    share = above / dwell.size
    ratio = above / (below + 1.0)  # +1: an empty band below is a strong gap, not infinity
    ok = (share >= st.pileup_share_threshold) & (ratio >= st.pileup_ratio)
    if not ok.any():
        return None
    best = int(np.argmax(np.where(ok, share, -1.0)))
    return {
        "threshold_s": float(thr[best]),
        "share": float(share[best]),
        "ratio": float(ratio[best]),
        "histogram_relative": histogram(dwell / thr[best], _PILEUP_EDGES),
    }


def _year_end(inp: DetectorInput, st: Settings) -> Finding | None:
    ad = inp.account_days
    if len(ad) == 0:
        return None
    tz = inp.app.timezone
    today = local_day_of(inp.now, tz)
    t = day_to_date(today)
    year = t.year if t.month >= st.year_end_month else t.year - 1
    m_first = date_to_day(date(year, st.year_end_month, 1))
    nxt = date(year + 1, 1, 1) if st.year_end_month == 12 else date(year, st.year_end_month + 1, 1)
    upto = min(date_to_day(nxt), today)  # complete days only
    elapsed = upto - m_first
    if elapsed < st.min_year_end_days:
        return None
    data_first = int(ad.day.min())
    base_first = max(m_first - st.year_end_baseline_days, data_first)
    base_days = m_first - base_first
    if base_days < st.year_end_baseline_days // 2:
        return None
    day = ad.day.astype(np.int64)
    study_s = ad.study_s.astype(np.float64)
    ye_total = float(study_s[(day >= m_first) & (day < upto)].sum())
    if ye_total < st.min_year_end_study_s:
        return None
    base_total = float(study_s[(day >= base_first) & (day < m_first)].sum())
    ye_rate = ye_total / elapsed
    base_rate = base_total / base_days
    ratio = ye_rate / base_rate if base_rate > 0 else float("inf")
    if ratio < st.year_end_ratio:
        return None
    shown = min(ratio, 1e6)
    score = round(exceedance_score(shown, st.year_end_ratio, 3 * st.year_end_ratio), 3)
    sel = (day >= base_first) & (day < upto)
    uniq, idx = np.unique(day[sel], return_inverse=True)
    per_day_s = np.bincount(idx, weights=study_s[sel])
    studying = np.bincount(idx, weights=(ad.study[sel] > 0).astype(np.float64))
    month_name = date(year, st.year_end_month, 1).strftime("%B")
    return Finding(
        id=finding_id(KIND, inp.app.id, "year_end", year),
        kind=KIND,
        app=inp.app.id,
        severity=severity_for(score),
        score=score,
        window_start=local_midnight(tz, base_first),
        window_end=local_midnight(tz, upto),
        summary=(
            f"Credited study in {month_name} {year} ran at {ye_rate / 3600:.1f} h/day, "
            f"{shown:.1f}x the {base_rate / 3600:.1f} h/day of the {base_days} days before "
            f"(threshold {st.year_end_ratio:g}x): a year-end rush for study hours."
        ),
        reasons=[
            Reason(
                code="year_end_surge",
                text="Credited study seconds per day in the year-end month over the days "
                "before it.",
                value=round(shown, 3),
                threshold=st.year_end_ratio,
                rule=_RULE,
            )
        ],
        evidence={
            "period": str(year),
            "year_end_study_s_per_day": round(ye_rate, 1),
            "baseline_study_s_per_day": round(base_rate, 1),
            "daily_study": [
                {
                    "date": day_to_date(int(d)).isoformat(),
                    "credited_s": round(float(per_day_s[i]), 1),
                    "studying_accounts": int(studying[i]),
                }
                for i, d in enumerate(uniq.tolist())
            ],
            **bounded_event_ids(
                inp.events,
                np.flatnonzero(
                    (inp.events.type == EventType.study)
                    & (local_day_and_second(inp.events.ts, tz)[0] >= m_first)
                ),
            ),
        },
        confidence=data_confidence(
            (base_days, st.year_end_baseline_days), (elapsed, st.min_year_end_days * 2)
        ),
    )
