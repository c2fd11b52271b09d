"""Deadline concentration: submissions crammed into the hour before a daily deadline, or
into the last days of a month or year.

Officials report tasks handed out "four or five at a time, all due before 17:00", and
month-end "ranking anxiety" on platforms that rank check-ins. Work that people do because
it is useful spreads over the working day; work done to beat a cut-off piles up just
before it. The baselines are what a uniform spread gives: the last hour of a 9:00-17:00
day holds 1/8 of submissions, the last 3 days of a 30-day month 1/10.

Findings (one per signal and period, all app-level shares):

* `daily_deadline`, keyed on the ISO week of the last complete day: on at least
  `days_share_threshold` of the judged days of the look-back, at least
  `day_share_threshold` of the day's submissions came in the last `window_hours` before
  `deadline_hour`.
* `month_end`, keyed on the last complete month: in at least `months_share_threshold` of
  the complete months covered, the last `month_end_days` days held `month_end_ratio` times
  their calendar share.
* `year_end`, keyed on the year: the daily submission rate in the last `year_end_days` of
  the year was `year_end_ratio` times that of the `year_end_baseline_days` before.

Counts come from the hourly app rollups (`app_hours`, ~120 days), so month ends are seen;
the event-id sample comes from the raw window and may be empty for old periods.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stacked import app_hours_column, app_hours_stack
from tapwatch.detectors.stats import (
    bounded_event_ids,
    data_confidence,
    date_to_day,
    day_to_date,
    exceedance_score,
    iso_week,
    local_day_and_second,
    local_midnight,
    of_types,
    severity_for,
)
from tapwatch.events import EVENT_TYPE_BY_NAME
from tapwatch.window import local_day_of

KIND = "deadline_concentration"
_RULE = "2023 Opinions on fingertip formalism: no real-time re-reporting, assess results not traces"
_RANKING_RULE = "2026 management measures: no check-in or points rankings"


class Settings(BaseModel):
    """Settings of the deadline-concentration detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: tuple[str, ...] = Field(
        default=("form_submit",),
        min_length=1,
        description="Event types that count as submissions (usage API type names).",
    )
    deadline_hour: int = Field(
        default=17, ge=1, le=24, description="Local hour of the daily deadline (17 = 17:00)."
    )
    window_hours: int = Field(
        default=1, ge=1, le=6, description="Hours before the deadline that count as 'last minute'."
    )
    workday_start_hour: int = Field(
        default=9,
        ge=0,
        le=23,
        description="Local hour the working day starts; sets the uniform baseline share "
        "window_hours / (deadline_hour - workday_start_hour).",
    )
    lookback_days: int = Field(
        default=28, ge=7, le=120, description="Complete local days judged for the daily signal."
    )
    min_day_submissions: int = Field(
        default=5, ge=1, description="A day with fewer submissions is not judged."
    )
    min_judged_days: int = Field(
        default=5, ge=1, description="Judged days needed before the daily signal can fire."
    )
    day_share_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of a day's submissions in the last window before the deadline "
        "that marks the day (0.5 is 4x the 1/8 of a uniform 9-17 day).",
    )
    days_share_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of judged days that must be marked for a daily_deadline finding.",
    )
    month_end_days: int = Field(
        default=3, ge=1, le=10, description="Last days of a month that count as month end."
    )
    month_end_ratio: float = Field(
        default=2.5,
        gt=1.0,
        description="Month-end share / calendar share (month_end_days / days in month) that "
        "marks a month.",
    )
    min_month_submissions: int = Field(
        default=20, ge=1, description="A complete month with fewer submissions is not judged."
    )
    months_share_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of judged months that must be marked for a month_end finding.",
    )
    min_judged_months: int = Field(
        default=2, ge=1, description="Judged months needed: a repeated pattern, not one rush."
    )
    year_end_days: int = Field(
        default=10, ge=1, le=31, description="Last days of the year that count as year end."
    )
    year_end_baseline_days: int = Field(
        default=60, ge=14, le=100, description="Days before the year end used as the baseline."
    )
    year_end_ratio: float = Field(
        default=3.0,
        gt=1.0,
        description="Year-end daily submission rate / baseline daily rate for a finding.",
    )
    min_year_end_submissions: int = Field(
        default=30, ge=1, description="Submissions in the year-end window needed to judge it."
    )

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in v if t not in EVENT_TYPE_BY_NAME]
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)}")
        return v

    @model_validator(mode="after")
    def _working_day(self) -> Settings:
        if self.deadline_hour - self.window_hours <= self.workday_start_hour:
            raise ValueError("the deadline window must start after workday_start_hour")
        return self


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """Findings for submissions piling up before daily, month-end and year-end deadlines."""
    codes = np.array([int(EVENT_TYPE_BY_NAME[t]) for t in settings.event_types], dtype=np.uint8)
    ah = inp.app_hours
    sel = of_types(ah.type, codes)
    day = ah.day[sel].astype(np.int64)
    hour = ah.hour[sel].astype(np.int64)
    count = ah.count[sel].astype(np.int64)
    if count.sum() == 0:
        return []
    today = local_day_of(inp.now, inp.app.timezone)
    covered = _distinct_days(ah.day.astype(np.int64))  # days with any data at all
    dom = _day_of_month(day)
    dom_hist = np.bincount(dom - 1, weights=count, minlength=31).astype(int).tolist()
    common = {"day_of_month_histogram": dom_hist}

    findings: list[Finding] = []
    for f in (
        _daily(inp, settings, day, hour, count, today, codes, common),
        _month_end(inp, settings, day, count, today, covered, codes, common),
        _year_end(inp, settings, day, count, today, covered, codes, common),
    ):
        if f is not None:
            findings.append(f)
    return findings


def detect_batch(inputs: Sequence[DetectorInput], settings: Settings) -> list[Finding]:
    """`detect` of each app that can have a finding, found for every app at once: one
    with submissions whose daily signal passes its two tests, or with the complete months
    a month-end finding needs, or the data before the year end a year-end finding
    compares with (the last two from the first day with data alone)."""
    st = settings
    codes = np.array([int(EVENT_TYPE_BY_NAME[t]) for t in st.event_types], dtype=np.uint8)
    stack = app_hours_stack(inputs)
    day = app_hours_column(inputs, "day").astype(np.int64)
    first_day = np.full(len(inputs), np.iinfo(np.int64).max)
    np.minimum.at(first_day, stack.owner, day)  # the first day with any data
    rows = np.flatnonzero(of_types(app_hours_column(inputs, "type"), codes))
    owner = stack.owner[rows]
    count = app_hours_column(inputs, "count")[rows].astype(np.int64)
    day, hour = day[rows], app_hours_column(inputs, "hour")[rows].astype(np.int64)
    submitted = stack.per_app(owner, count.astype(np.float64)) > 0
    today = np.array([local_day_of(i.now, i.app.timezone) for i in inputs], dtype=np.int64)
    # the daily signal's figures, one row per app
    span = st.lookback_days
    rel = day - (today - span)[owner]
    in_range = (rel >= 0) & (rel < span)
    key = owner[in_range].astype(np.int64) * span + rel[in_range]
    c, h = count[in_range].astype(np.float64), hour[in_range]
    last = (h >= st.deadline_hour - st.window_hours) & (h < st.deadline_hour)
    n = len(inputs)
    totals = np.bincount(key, weights=c, minlength=n * span).reshape(n, span)
    late = np.bincount(key[last], weights=c[last], minlength=n * span).reshape(n, span)
    judged, _, marked = _marked_days(totals, late, st)
    n_judged = judged.sum(axis=1)
    daily = (n_judged >= st.min_judged_days) & (
        marked.sum(axis=1) / np.maximum(n_judged, 1) >= st.days_share_threshold
    )
    out: list[Finding] = []
    for k in np.flatnonzero(submitted).tolist():
        if daily[k] or _later_signals_possible(int(today[k]), int(first_day[k]), st):
            out += detect(inputs[k], st)
    return out


def _marked_days(
    totals: np.ndarray, late: np.ndarray, st: Settings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(judged, share before the deadline, marked) of each day of the look-back (the last
    axis)."""
    judged = totals >= st.min_day_submissions
    shares = np.divide(late, totals, out=np.zeros(late.shape), where=totals > 0)
    return judged, shares, judged & (shares >= st.day_share_threshold)


def _later_signals_possible(today: int, first_day: int, st: Settings) -> bool:
    """Whether the data from `first_day` on covers the complete months a month-end finding
    needs or the days before the year end a year-end finding compares with (`_month_end`'s
    and `_year_end`'s first tests)."""
    t = day_to_date(today)
    y, m, months = t.year, t.month, 0
    while months < st.min_judged_months:
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        if date_to_day(date(y, m, 1)) < first_day:
            break
        months += 1
    if months >= st.min_judged_months:
        return True
    year = t.year if t.month == 12 else t.year - 1
    end = date_to_day(date(year + 1, 1, 1))
    start = end - st.year_end_days
    if min(end, today + 1) - start < min(3, st.year_end_days):
        return False
    base_first = start - st.year_end_baseline_days
    return start - max(base_first, first_day) >= st.year_end_baseline_days // 2


def _distinct_days(days: np.ndarray) -> np.ndarray:
    """`np.unique(days)` of local day numbers, by one count per day of their span (a
    window's days are few and close: no sort)."""
    if days.size == 0:
        return days
    first = int(days.min())
    return np.flatnonzero(np.bincount(days - first)) + first


def _day_of_month(days: np.ndarray) -> np.ndarray:
    """Day of the month (1..31) of each local day number, as `day_to_date(d).day`, by
    calendar arithmetic on the whole array."""
    dates = days.astype("datetime64[D]")
    return (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1


def _raw_rows(inp: DetectorInput, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw-window rows of the submission types with their local day and second."""
    win = inp.events
    rows = np.flatnonzero(of_types(win.type, codes))
    d, s = local_day_and_second(win.ts[rows], inp.app.timezone)
    return rows, d, s


def _daily(
    inp: DetectorInput,
    st: Settings,
    day: np.ndarray,
    hour: np.ndarray,
    count: np.ndarray,
    today: int,
    codes: np.ndarray,
    common: dict[str, object],
) -> Finding | None:
    first = today - st.lookback_days
    in_range = (day >= first) & (day < today)
    if not in_range.any():
        return None
    rel = day[in_range] - first
    h = hour[in_range]
    c = count[in_range]
    lo_h = st.deadline_hour - st.window_hours
    last = (h >= lo_h) & (h < st.deadline_hour)
    totals = np.bincount(rel, weights=c, minlength=st.lookback_days)
    late = np.bincount(rel[last], weights=c[last], minlength=st.lookback_days).astype(float)
    judged, shares, marked = _marked_days(totals, late, st)
    n_judged = int(judged.sum())
    if n_judged < st.min_judged_days:
        return None
    marked_share = float(marked.sum()) / n_judged
    if marked_share < st.days_share_threshold:
        return None

    baseline = st.window_hours / (st.deadline_hour - st.workday_start_hour)
    overall = float(late[judged].sum() / totals[judged].sum())
    score = round(
        max(
            exceedance_score(marked_share, st.days_share_threshold, 1.0),
            exceedance_score(overall, st.day_share_threshold, 1.0),
        ),
        3,
    )
    hour_hist = np.bincount(h, weights=c, minlength=24).astype(int).tolist()
    per_day = [
        {
            "date": day_to_date(first + i).isoformat(),
            "submissions": int(totals[i]),
            "before_deadline": int(late[i]),
            "share": round(float(shares[i]), 4),
            "judged": bool(judged[i]),
        }
        for i in range(st.lookback_days)
        if totals[i] > 0
    ]
    rows, d, s = _raw_rows(inp, codes)
    in_win = (d >= first) & (d < today) & (s >= lo_h * 3600) & (s < st.deadline_hour * 3600)
    deadline = f"{st.deadline_hour:02d}:00"
    week = iso_week(today - 1)
    return Finding(
        id=finding_id(KIND, inp.app.id, "daily_deadline", week),
        kind=KIND,
        app=inp.app.id,
        severity=severity_for(score),
        score=score,
        window_start=local_midnight(inp.app.timezone, first),
        window_end=local_midnight(inp.app.timezone, today),
        summary=(
            f"On {int(marked.sum())} of {n_judged} working days ({marked_share:.0%}) at least "
            f"{st.day_share_threshold:.0%} of submissions came in the last {st.window_hours} h "
            f"before {deadline}; overall {overall:.0%} against {baseline:.0%} for an even day."
        ),
        reasons=[
            Reason(
                code="deadline_days",
                text=f"Share of judged days with most submissions just before {deadline}.",
                value=round(marked_share, 4),
                threshold=st.days_share_threshold,
                rule=_RULE,
            ),
            Reason(
                code="deadline_share",
                text=(
                    f"Share of all submissions in the last {st.window_hours} h before "
                    f"{deadline} (even working day: {baseline:.3f})."
                ),
                value=round(overall, 4),
                threshold=round(baseline, 4),
            ),
        ],
        evidence={
            "signal": "daily_deadline",
            "period": week,
            "hour_histogram": hour_hist,
            "per_day": per_day,
            "baseline_share": round(baseline, 4),
            **common,
            **bounded_event_ids(inp.events, rows[in_win]),
        },
        confidence=data_confidence(
            (n_judged, 20), (float(totals[judged].sum()), 20 * st.min_day_submissions)
        ),
    )


def _month_end(
    inp: DetectorInput,
    st: Settings,
    day: np.ndarray,
    count: np.ndarray,
    today: int,
    covered: np.ndarray,
    codes: np.ndarray,
    common: dict[str, object],
) -> Finding | None:
    # Complete months only, and only those whose first day the data covers.
    months = []
    t = day_to_date(today)
    y, m = t.year, t.month
    while True:
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        first = date_to_day(date(y, m, 1))
        if covered.size == 0 or first < covered[0]:
            break
        months.append((y, m, first, first + calendar.monthrange(y, m)[1]))
    judged = []
    for y, m, first, end in reversed(months):
        in_m = (day >= first) & (day < end)
        total = int(count[in_m].sum())
        if total < st.min_month_submissions:
            continue
        tail = int(count[in_m & (day >= end - st.month_end_days)].sum())
        share = tail / total
        expected = st.month_end_days / (end - first)
        judged.append((y, m, first, end, total, tail, share, share / expected))
    if len(judged) < st.min_judged_months:
        return None
    marked = [j for j in judged if j[7] >= st.month_end_ratio]
    marked_share = len(marked) / len(judged)
    if marked_share < st.months_share_threshold:
        return None
    ratio = float(np.median([j[7] for j in judged]))
    score = round(
        max(
            exceedance_score(marked_share, st.months_share_threshold, 1.0),
            exceedance_score(ratio, st.month_end_ratio, 2 * st.month_end_ratio),
        ),
        3,
    )
    last_y, last_m = judged[-1][0], judged[-1][1]
    period = f"{last_y}-{last_m:02d}"
    rows, d, _ = _raw_rows(inp, codes)
    in_tail = np.zeros(rows.size, dtype=bool)
    for _, _, _, end, *_ in marked:
        in_tail |= (d >= end - st.month_end_days) & (d < end)
    return Finding(
        id=finding_id(KIND, inp.app.id, "month_end", period),
        kind=KIND,
        app=inp.app.id,
        severity=severity_for(score),
        score=score,
        window_start=local_midnight(inp.app.timezone, judged[0][2]),
        window_end=local_midnight(inp.app.timezone, judged[-1][3]),
        summary=(
            f"In {len(marked)} of {len(judged)} months the last {st.month_end_days} days held "
            f"a median {ratio:.1f}x their calendar share of submissions (threshold "
            f"{st.month_end_ratio:.1f}x): month-end rushes."
        ),
        reasons=[
            Reason(
                code="month_end_months",
                text="Share of judged months with a month-end rush.",
                value=round(marked_share, 4),
                threshold=st.months_share_threshold,
                rule=_RANKING_RULE,
            ),
            Reason(
                code="month_end_ratio",
                text=f"Median month-end share over the calendar share of the last "
                f"{st.month_end_days} days.",
                value=round(ratio, 3),
                threshold=st.month_end_ratio,
            ),
        ],
        evidence={
            "signal": "month_end",
            "period": period,
            "per_month": [
                {
                    "month": f"{y}-{m:02d}",
                    "submissions": total,
                    "month_end_submissions": tail,
                    "share": round(share, 4),
                    "ratio_to_calendar": round(r, 3),
                }
                for y, m, _, _, total, tail, share, r in judged
            ],
            **common,
            **bounded_event_ids(inp.events, rows[in_tail]),
        },
        confidence=data_confidence((len(judged), 3), (sum(j[4] for j in judged), 300)),
    )


def _year_end(
    inp: DetectorInput,
    st: Settings,
    day: np.ndarray,
    count: np.ndarray,
    today: int,
    covered: np.ndarray,
    codes: np.ndarray,
    common: dict[str, object],
) -> Finding | None:
    t = day_to_date(today)
    # The year end under way (December) or the last one that ended.
    year = t.year if t.month == 12 else t.year - 1
    end = date_to_day(date(year + 1, 1, 1))
    start = end - st.year_end_days
    upto = min(end, today + 1)  # today counts while the year end is under way
    elapsed = upto - start
    if elapsed < min(3, st.year_end_days):
        return None
    base_first = start - st.year_end_baseline_days
    # Rates per calendar day on both sides (weekends included), counting only baseline
    # days after tapwatch's data begins.
    base_cov = start - max(base_first, int(covered[0])) if covered.size else 0
    if base_cov < st.year_end_baseline_days // 2:
        return None
    in_ye = (day >= start) & (day < upto)
    ye_total = int(count[in_ye].sum())
    if ye_total < st.min_year_end_submissions:
        return None
    base_total = int(count[(day >= base_first) & (day < start)].sum())
    ye_rate = ye_total / elapsed
    base_rate = base_total / base_cov
    ratio = ye_rate / base_rate if base_rate > 0 else float("inf")
    if ratio < st.year_end_ratio:
        return None
    shown_ratio = min(ratio, 1e6)
    score = round(exceedance_score(shown_ratio, st.year_end_ratio, 3 * st.year_end_ratio), 3)
    rows, d, _ = _raw_rows(inp, codes)
    in_win = (d >= start) & (d < upto)
    return Finding(
        id=finding_id(KIND, inp.app.id, "year_end", year),
        kind=KIND,
        app=inp.app.id,
        severity=severity_for(score),
        score=score,
        window_start=local_midnight(inp.app.timezone, base_first),
        window_end=local_midnight(inp.app.timezone, upto),
        summary=(
            f"In the last {st.year_end_days} days of {year} submissions ran at "
            f"{ye_rate:.1f}/day, {shown_ratio:.1f}x the {base_rate:.1f}/day of the "
            f"{st.year_end_baseline_days} days before (threshold {st.year_end_ratio:.1f}x)."
        ),
        reasons=[
            Reason(
                code="year_end_surge",
                text="Year-end daily submission rate over the preceding daily rate.",
                value=round(shown_ratio, 3),
                threshold=st.year_end_ratio,
                rule=_RANKING_RULE,
            )
        ],
        evidence={
            "signal": "year_end",
            "period": str(year),
            "year_end_rate_per_day": round(ye_rate, 3),
            "baseline_rate_per_day": round(base_rate, 3),
            **common,
            **bounded_event_ids(inp.events, rows[in_win]),
        },
        confidence=data_confidence(
            (base_cov, st.year_end_baseline_days), (elapsed, st.year_end_days)
        ),
    )
