"""Flat reads: every article read by the same number of people, whatever it says.

Officials were told to open ~20 government official accounts every day so that "the
back-end numbers look good". Organic readership is heavy-tailed: one notice matters to
everyone, the next to a handful, so reads per article vary by several times (coefficient
of variation around 1 or more) and are over-dispersed against Poisson noise. Ordered
reading gives every article the same count, close to the head count told to read.

Over the raw window, for articles (`target` of read events) whose first read is at least
`min_article_age_s` old (younger ones are still gathering readers):

* flatness: robust coefficient of variation of reads per article (MAD x 1.4826 / median)
  at most `max_cv`, with at least `min_articles` articles averaging `min_mean_reads`
  reads (below that, counting noise alone makes small counts vary). Robust because the
  raw window cuts through the readership of the articles posted just before it began;
  the plain std / mean is reported beside it;
* the same readers for everything: at least `min_completionist_share` of the reads come
  from accounts that opened at least `completionist_coverage` of the articles. People
  who choose read a selection; equally popular articles picked by independent readers
  can also give a low CV (Poisson counts of a few hundred vary by only ~5%), but not
  this. The variance / mean of reads per article is reported too: 1 for independent
  readers, well below 1 when the same people read everything;
* closeness to the intended users (AppProfile.intended_users, when known): median reads
  per article within `intended_tolerance` of it. This raises the score; flatness alone
  raises the finding.

Keyed on the ISO week.

Platforms that only publish daily aggregates (WeChat official accounts' datacube: read
users per article per day, no reader behind them) come in the usage snapshot's
`articles`. For an app that sends no read events the same judgement is made from them:
read users per article over the last `aggregate_days`, flatness as above, and in place of
the completionist share (which needs accounts) under-dispersion: the variance over mean
of read users per article at most `max_dispersion`. Independent readers drawn from a
large following give about 1 (Poisson), organic heavy-tailed readership far more; a fixed
group each told to open every article gives well under 1 (binomial with a high reading
rate: 1 - rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stacked import events_column, events_stack
from tapwatch.detectors.stats import (
    EVIDENCE_LIMIT,
    bounded_accounts,
    bounded_event_ids,
    data_confidence,
    exceedance_score,
    histogram,
    iso_week,
    severity_for,
    unique_pairs,
)
from tapwatch.events import EventType
from tapwatch.window import local_day_of

KIND = "flat_reads"
_RULE = "2026 management measures: likes, forwards and reading not scored in assessments"


class Settings(BaseModel):
    """Settings of the flat-reads detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_articles: int = Field(
        default=5, ge=3, description="Articles with reads needed to judge flatness."
    )
    min_mean_reads: float = Field(
        default=10.0,
        gt=0.0,
        description="Mean reads per article needed; fewer and counting noise dominates.",
    )
    max_cv: float = Field(
        default=0.25,
        gt=0.0,
        le=1.0,
        description="Robust coefficient of variation (MAD x 1.4826 / median) of reads per "
        "article at or below which readership is flat (organic readership is ~1 or more).",
    )
    min_article_age_s: float = Field(
        default=86400.0,
        ge=0.0,
        description="Articles first read more recently are still gathering readers; skipped.",
    )
    completionist_coverage: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="Share of the articles an account must have opened to count as reading "
        "everything.",
    )
    min_completionist_share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of reads from accounts reading everything needed for a finding.",
    )
    intended_tolerance: float = Field(
        default=0.25,
        gt=0.0,
        le=1.0,
        description="Median reads per article within this fraction of the intended users "
        "counts as 'everyone told to read did'.",
    )
    max_dispersion: float = Field(
        default=0.5,
        gt=0.0,
        description="Platform aggregates only: variance over mean of read users per article "
        "at or below which the same people read everything (independent readers give ~1).",
    )
    aggregate_days: int = Field(
        default=14,
        ge=2,
        le=400,
        description="Platform aggregates only: days of per-article figures judged.",
    )


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """A finding when reads per article are flat (see the module docstring)."""
    st = settings
    win = inp.events
    rows = np.flatnonzero((win.type == EventType.read) & (win.target >= 0))
    if rows.size == 0:
        return _from_aggregates(inp, st)
    target = win.target[rows].astype(np.int64)
    uniq, idx = np.unique(target, return_inverse=True)
    first_read = np.full(uniq.size, np.inf)
    np.minimum.at(first_read, idx, win.ts[rows])
    mature = first_read <= inp.now - st.min_article_age_s
    if int(mature.sum()) < st.min_articles:
        return []
    reads = np.bincount(idx, minlength=uniq.size).astype(np.float64)
    pairs = unique_pairs(idx, win.account[rows].astype(np.int64))[0]
    readers = np.bincount(pairs[0], minlength=uniq.size)
    r = reads[mature]
    mean = float(r.mean())
    if mean < st.min_mean_reads:
        return []
    std = float(r.std())
    cv = std / mean
    dispersion = std * std / mean
    median = float(np.median(r))
    robust_cv = 1.4826 * float(np.median(np.abs(r - median))) / median
    if robust_cv > st.max_cv:
        return []
    # Articles opened per reader, and the reads made by those who opened nearly all.
    judged_pairs = pairs[:, mature[pairs[0]]]
    readers_u, per_reader = np.unique(judged_pairs[1], return_counts=True)
    completionist = per_reader >= st.completionist_coverage * mature.sum()
    judged_rows = rows[mature[idx]]
    reads_by = np.bincount(
        np.searchsorted(readers_u, win.account[judged_rows]), minlength=readers_u.size
    )
    completionist_share = float(reads_by[completionist].sum() / judged_rows.size)
    if completionist_share < st.min_completionist_share:
        return []

    intended = inp.app.intended_users
    score, ratio, near_reason = _score(robust_cv, median, intended, st, "reads")
    reasons = [
        _flat_reason(robust_cv, st, "reads per article"),
        Reason(
            code="same_readers_for_everything",
            text=f"Share of reads by accounts that opened at least "
            f"{st.completionist_coverage:.0%} of the articles.",
            value=round(completionist_share, 4),
            threshold=st.min_completionist_share,
        ),
        *near_reason,
    ]
    today = local_day_of(inp.now, inp.app.timezone)
    week = iso_week(today)
    m_idx = np.flatnonzero(mature)
    articles = sorted(
        (win.strings[int(uniq[i])], int(reads[i]), int(readers[i])) for i in m_idx.tolist()
    )
    summary = (
        f"{m_idx.size} articles were read {mean:.0f} times each on average with a "
        f"robust coefficient of variation of {robust_cv:.2f} (threshold {st.max_cv:g}); "
        f"{completionist_share:.0%} of reads came from accounts that opened "
        f"{st.completionist_coverage:.0%}+ of them"
    )
    if ratio is not None:
        summary += f"; the median is {ratio:.0%} of the {intended} intended users"
    return [
        Finding(
            id=finding_id(KIND, inp.app.id, week),
            kind=KIND,
            app=inp.app.id,
            severity=severity_for(score),
            score=score,
            window_start=float(win.ts[judged_rows[0]]),
            window_end=inp.now,
            summary=summary + ".",
            reasons=reasons,
            evidence={
                "period": week,
                "reads_per_article": [
                    {"target": t, "reads": n, "readers": u} for t, n, u in articles[:EVIDENCE_LIMIT]
                ],
                "articles": int(m_idx.size),
                "mean_reads": round(mean, 2),
                "cv": round(cv, 4),
                "robust_cv": round(robust_cv, 4),
                "dispersion_index": round(dispersion, 4),
                "completionist_share": round(completionist_share, 4),
                "articles_per_reader_histogram": histogram(
                    per_reader / mature.sum(), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0 + 1e-9]
                ),
                "intended_users": intended,
                "ratio_to_intended_users": None if ratio is None else round(ratio, 4),
                **bounded_accounts(win.accounts, win.account[judged_rows]),
                **bounded_event_ids(win, judged_rows),
            },
            confidence=data_confidence(
                (int(m_idx.size), 2 * st.min_articles), (float(r.sum()), 500)
            ),
        )
    ]


def detect_batch(inputs: Sequence[DetectorInput], settings: Settings) -> list[Finding]:
    """`detect` of each app whose reads can hold a finding: enough articles old enough,
    read often enough on average (detect's first two tests, for every app at once: most
    apps stop there). An app without reads of articles is judged on its platform
    aggregates, by `detect`."""
    st = settings
    stack = events_stack(inputs)
    target = events_column(inputs, "target")
    rows = np.flatnonzero((events_column(inputs, "type") == EventType.read) & (target >= 0))
    owner = stack.owner[rows]
    # articles in the stacked string coding: one app's are never another's
    article, idx = np.unique(stack.string_starts[owner] + target[rows], return_inverse=True)
    idx = idx.reshape(-1)
    article_app = np.searchsorted(stack.string_starts, article, side="right") - 1
    first_read = np.full(article.size, np.inf)
    np.minimum.at(first_read, idx, events_column(inputs, "ts")[rows])
    now = np.array([inp.now for inp in inputs], dtype=np.float64)
    mature = first_read <= now[article_app] - st.min_article_age_s
    reads = np.bincount(idx, minlength=article.size).astype(np.float64)
    articles = stack.per_app(article_app[mature])
    # the same quotient as detect's mean: sums of whole reads are exact
    mean = stack.per_app(article_app[mature], reads[mature]) / np.maximum(articles, 1)
    judged = (stack.per_app(owner) == 0) | (
        (articles >= st.min_articles) & (mean >= st.min_mean_reads)
    )
    return [f for k in np.flatnonzero(judged).tolist() for f in detect(inputs[k], st)]


def _flat_reason(robust_cv: float, st: Settings, what: str) -> Reason:
    return Reason(
        code="flat_reads",
        text=f"Robust coefficient of variation of {what} (organic readership varies by "
        "article, ~1 or more).",
        value=round(robust_cv, 4),
        threshold=st.max_cv,
        rule=_RULE,
    )


def _score(
    robust_cv: float, median: float, intended: int | None, st: Settings, what: str
) -> tuple[float, float | None, list[Reason]]:
    """Score from flatness, raised when the median is close to the intended users; the
    median's ratio to them, and the reason saying so (if close)."""
    ratio = median / intended if intended else None
    score = exceedance_score(robust_cv, st.max_cv, 0.0)
    if ratio is None or abs(ratio - 1.0) > st.intended_tolerance:
        return round(score, 3), ratio, []
    near = Reason(
        code="reads_match_intended_users",
        text=f"Distance of the median {what} per article from the {intended} intended "
        "users, as a fraction of them.",
        value=round(abs(ratio - 1.0), 4),
        threshold=st.intended_tolerance,
    )
    return round(min(1.0, score + 0.25), 3), ratio, [near]


def _from_aggregates(inp: DetectorInput, st: Settings) -> list[Finding]:
    """The same judgement from a platform's per-article daily figures (no accounts)."""
    snap = inp.snapshot
    if snap is None or not snap.articles:
        return []
    latest = max(a.day for a in snap.articles)
    earliest = min(a.day for a in snap.articles)
    today = datetime.fromtimestamp(inp.now, inp.app.timezone).date()
    lo = max(today - timedelta(days=st.aggregate_days), date.fromisoformat(earliest)
             + timedelta(days=1)).isoformat()  # articles first read on day one may be old
    first: dict[str, str] = {}
    readers: dict[str, int] = {}
    reads: dict[str, int] = {}
    titles: dict[str, str] = {}
    for a in snap.articles:
        first[a.article] = min(first.get(a.article, a.day), a.day)
        readers[a.article] = readers.get(a.article, 0) + a.read_users
        reads[a.article] = reads.get(a.article, 0) + a.reads
        titles.setdefault(a.article, a.title)
    # judged: first read in the window, and a later day of figures exists (mature)
    judged = sorted(k for k, d in first.items() if lo <= d < latest)
    if len(judged) < st.min_articles:
        return []
    r = np.array([readers[k] for k in judged], dtype=np.float64)
    mean = float(r.mean())
    if mean < st.min_mean_reads:
        return []
    median = float(np.median(r))
    robust_cv = 1.4826 * float(np.median(np.abs(r - median))) / median
    if robust_cv > st.max_cv:
        return []
    dispersion = float(r.var()) / mean
    if dispersion > st.max_dispersion:
        return []
    intended = inp.app.intended_users
    score, ratio, near_reason = _score(robust_cv, median, intended, st, "read users")
    reasons = [
        _flat_reason(robust_cv, st, "read users per article, from the platform's daily figures"),
        Reason(
            code="under_dispersed_reads",
            text="Variance over mean of read users per article: ~1 for independent "
            "readers, well below 1 when the same group reads everything.",
            value=round(dispersion, 4),
            threshold=st.max_dispersion,
        ),
        *near_reason,
    ]
    week = iso_week(local_day_of(inp.now, inp.app.timezone))
    summary = (
        f"{len(judged)} articles were read by {mean:.0f} users each on average (platform "
        f"figures) with a robust coefficient of variation of {robust_cv:.2f} (threshold "
        f"{st.max_cv:g}) and a dispersion of {dispersion:.2f} (independent readers: ~1)"
    )
    if ratio is not None:
        summary += f"; the median is {ratio:.0%} of the {intended} intended users"
    followers = snap.registered_accounts
    return [
        Finding(
            id=finding_id(KIND, inp.app.id, week),
            kind=KIND,
            app=inp.app.id,
            severity=severity_for(score),
            score=score,
            window_start=datetime.fromisoformat(min(first[k] for k in judged))
            .replace(tzinfo=inp.app.timezone).timestamp(),
            window_end=inp.now,
            summary=summary + ".",
            reasons=reasons,
            evidence={
                "period": week,
                "basis": "platform_aggregates",
                "reads_per_article": [
                    {"target": titles[k] or k, "article": k, "first_day": first[k],
                     "reads": reads[k], "readers": readers[k]}
                    for k in judged[:EVIDENCE_LIMIT]
                ],
                "articles": len(judged),
                "mean_reads": round(mean, 2),
                "robust_cv": round(robust_cv, 4),
                "dispersion_index": round(dispersion, 4),
                "followers": followers,
                "reader_share_of_followers": round(median / followers, 4)
                if followers else None,
                "intended_users": intended,
                "ratio_to_intended_users": None if ratio is None else round(ratio, 4),
            },
            confidence=data_confidence((len(judged), 2 * st.min_articles), (float(r.sum()), 500)),
        )
    ]
