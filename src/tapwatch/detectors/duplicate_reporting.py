"""Duplicate reporting: the same report from the same unit filed on several apps.

Officials describe one cultural event approved on four platforms, and departments that could
share data asking the grass roots to re-report it. A form submission carries the unit
(organisation) that filed it and a hash of its content; the same (unit, content_hash) filed
to two or more registered apps within `window_days` is a duplicate.

Findings are grouped so that a district where every unit re-reports each item reads as a
few findings, not one per report: one cross-app finding per **pair of apps** and ISO week
(of the second filing), counting the reports both received and, per unit, how many and
which forms. Its id stays the same while more duplicates of that week arrive; it counts
for both apps (`Finding.apps`), filed under the one that more often received the report
second (it asked for what the other already had). `app_duplicate_filings` counts
the extra filings each app received in the last week (per app: a unit is never a metric
label).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from itertools import chain, combinations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.derived import per_fleet
from tapwatch.detectors.stacked import Stack, events_column, events_stack
from tapwatch.events import EventType
from tapwatch.window import DAY, local_seconds

KIND = "duplicate_reporting"
RULE = (
    "2026 management measures: no repeated form filling; 2023 Opinions: report the same "
    "item once (one-stop platform, 'one table')"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Settings(BaseModel):
    """duplicate_reporting settings (config `detectors: duplicate_reporting:`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: float = Field(
        7.0,
        gt=0,
        description="Filings of the same content by the same unit count as duplicates "
        "when they reach different apps within this many days of each other.",
    )
    min_apps: int = Field(
        2, ge=2, description="Distinct apps that must receive the same content to count."
    )
    full_score_duplicates: int = Field(
        10, ge=1, description="Reports filed on both apps of a pair in one week for score 1."
    )
    critical_apps: int = Field(
        4, ge=2, description="Apps receiving the same content at which the finding is critical."
    )
    max_evidence: int = Field(
        200, ge=1, description="Cap on event ids and other-app submissions kept as evidence."
    )


@dataclass(frozen=True, slots=True)
class Submission:
    app: str
    event_id: str
    ts: float
    account: str
    unit: str
    content_hash: str
    form: str  # the form's name (the event's target), "" when not given
    week: str  # ISO week of the filing in the app's time zone, e.g. "2026-W48"


def _form_rows(inp: DetectorInput) -> np.ndarray:
    """Rows of the app's form_submits that name their unit and content hash."""
    ev = inp.events
    return np.flatnonzero(
        (ev.type == int(EventType.form_submit)) & (ev.unit >= 0) & (ev.content_hash >= 0)
    )


def _pair_keys(
    inputs: list[DetectorInput], stack: Stack, owner: np.ndarray, unit: np.ndarray,
    content: np.ndarray,
) -> np.ndarray:
    """A 64-bit key of each row's (unit, content hash) strings (codes of the app `owner`
    gives), the same in every app: Python's hash of each distinct string (a collision
    only lets a row through the pre-selection; the grouping itself is by the strings)."""
    keys = np.zeros(unit.size, dtype=np.uint64)
    for col, mult in ((unit, np.uint64(0x9E3779B97F4A7C15)), (content, np.uint64(1))):
        # each app's codes in the stacked coding: a string of one app is hashed once
        codes, inv = np.unique(stack.string_starts[owner] + col, return_inverse=True)
        app_of = np.searchsorted(stack.string_starts, codes, side="right") - 1
        local = (codes - stack.string_starts[app_of]).tolist()
        bounds = np.searchsorted(app_of, np.arange(len(inputs) + 1)).tolist()
        strings = chain.from_iterable(  # each app's run of codes looked up in C
            map(inputs[k].events.strings.__getitem__, local[bounds[k] : bounds[k + 1]])
            for k in range(len(inputs))
        )
        h = np.fromiter(map(hash, strings), dtype=np.int64, count=codes.size).view(np.uint64)
        keys += h[inv.reshape(-1)] * mult  # wraps modulo 2**64, as a hash should
    return keys


def _shared_rows(inputs: list[DetectorInput]) -> list[np.ndarray]:
    """Per app, the rows of the form submissions whose (unit, content hash) some other app
    received too (a superset: see _pair_keys). Most filings are in one app only: they never
    become Python objects. Every app's window at once (stacked.py)."""
    stack = events_stack(inputs)
    unit, content = events_column(inputs, "unit"), events_column(inputs, "content_hash")
    rows = np.flatnonzero(
        (events_column(inputs, "type") == int(EventType.form_submit)) & (unit >= 0)
        & (content >= 0)
    )
    owner = stack.owner[rows]
    if rows.size:
        keys = _pair_keys(inputs, stack, owner, unit[rows], content[rows])
        # distinct (key, app) pairs by one sort of both (a row-wise unique is several
        # times slower), then the apps of each key
        order = np.lexsort((owner, keys))
        k, a = keys[order], owner[order]
        first = np.ones(k.size, dtype=bool)
        first[1:] = (k[1:] != k[:-1]) | (a[1:] != a[:-1])
        uk, n_apps = np.unique(k[first], return_counts=True)
        shared = np.isin(keys, uk[n_apps >= 2])
        rows, owner = rows[shared], owner[shared]
    # rows are in app order: each app's a run, as rows of its own window
    bounds = np.searchsorted(owner, np.arange(len(inputs) + 1)).tolist()
    starts = stack.starts.tolist()
    return [rows[bounds[k] : bounds[k + 1]] - starts[k] for k in range(len(inputs))]


def submissions(inp: DetectorInput, rows: np.ndarray | None = None) -> list[Submission]:
    """Every form_submit of one app that names its unit and content hash (or those at
    `rows`)."""
    ev = inp.events
    if rows is None:
        rows = _form_rows(inp)
    if rows.size == 0:
        return []
    local_days = np.floor(local_seconds(ev.ts[rows], inp.app.timezone) / DAY).astype(np.int64)
    out = []
    for r, day in zip(rows.tolist(), local_days.tolist(), strict=True):
        iso = date.fromordinal(day + _EPOCH_ORDINAL).isocalendar()
        out.append(
            Submission(
                app=inp.app.id,
                event_id=ev.ids[r].decode(),
                ts=float(ev.ts[r]),
                account=ev.accounts[ev.account[r]],
                unit=ev.strings[ev.unit[r]],
                content_hash=ev.strings[ev.content_hash[r]],
                form=ev.strings[ev.target[r]] if ev.target[r] >= 0 else "",
                week=f"{iso.year}-W{iso.week:02d}",
            )
        )
    return out


def _by_content(inputs: list[DetectorInput]) -> dict[tuple[str, str], list[Submission]]:
    groups: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    for inp, rows in zip(inputs, _shared_rows(inputs), strict=True):
        for sub in submissions(inp, rows):
            groups[(sub.unit, sub.content_hash)].append(sub)
    return groups


def duplicates(
    inputs: list[DetectorInput], settings_for: Callable[[str], Settings]
) -> list[tuple[Submission, list[Submission]]]:
    """Each submission that is a duplicate, with the filings of the same content by the same
    unit in other apps within the submitting app's `window_days` (once per pass: the
    finding and the per-app counts both need them)."""
    key = tuple(settings_for(inp.app.id) for inp in inputs)
    return per_fleet("duplicates", inputs, lambda: _duplicates(inputs, settings_for), key)


def _duplicates(
    inputs: list[DetectorInput], settings_for: Callable[[str], Settings]
) -> list[tuple[Submission, list[Submission]]]:
    out = []
    for group in _by_content(inputs).values():
        if len({s.app for s in group}) < 2:
            continue
        for sub in group:
            st = settings_for(sub.app)
            others = [
                o for o in group if o.app != sub.app and abs(o.ts - sub.ts) <= st.window_days * DAY
            ]
            if len({o.app for o in others}) + 1 >= st.min_apps:
                out.append((sub, others))
    out.sort(key=lambda d: (d[0].app, d[0].ts, d[0].event_id))
    return out


@dataclass(slots=True)
class _Report:
    """One (unit, content) filed on both apps of a pair."""

    unit: str
    content_hash: str
    filings: dict[str, list[Submission]]  # app -> its filings of this content
    later_app: str  # the app whose first filing came second
    week: str  # ISO week of that second filing
    apps_reached: int  # apps of the whole fleet that received this content


def _reports_by_pair(
    inputs: list[DetectorInput], settings_for: Callable[[str], Settings]
) -> dict[tuple[str, str, str], list[_Report]]:
    """(app, other app, week) -> the reports both apps of the pair received."""
    by_content: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    reached: dict[tuple[str, str], set[str]] = defaultdict(set)
    for sub, others in duplicates(inputs, settings_for):
        key = (sub.unit, sub.content_hash)
        by_content[key].append(sub)
        reached[key] |= {sub.app} | {o.app for o in others}
    out: dict[tuple[str, str, str], list[_Report]] = defaultdict(list)
    for (unit, chash), subs in by_content.items():
        per_app: dict[str, list[Submission]] = defaultdict(list)
        for sub in sorted(subs, key=lambda x: (x.ts, x.app, x.event_id)):
            per_app[sub.app].append(sub)
        for a, b in combinations(sorted(per_app), 2):
            first_a, first_b = per_app[a][0], per_app[b][0]
            if abs(first_a.ts - first_b.ts) > settings_for(a).window_days * DAY:
                continue
            later = first_b if (first_b.ts, b) > (first_a.ts, a) else first_a
            out[(a, b, later.week)].append(
                _Report(unit, chash, {a: per_app[a], b: per_app[b]}, later.app, later.week,
                        len(reached[(unit, chash)]))
            )
    return out


def detect_fleet(
    inputs: list[DetectorInput], settings_for: Callable[[str], Settings]
) -> list[Finding]:
    """One cross-app finding per pair of apps and ISO week with reports filed on both."""
    findings = []
    for (a, b, week), reports in sorted(_reports_by_pair(inputs, settings_for).items()):
        seconds = sum(r.later_app == b for r in reports)
        app, other = (b, a) if seconds * 2 > len(reports) else (a, b)
        st = settings_for(app)
        findings.append(_pair_finding(app, other, week, reports, st))
    return findings


def _pair_finding(
    app: str, other: str, week: str, reports: list[_Report], st: Settings
) -> Finding:
    units: dict[str, list[_Report]] = defaultdict(list)
    for r in reports:
        units[r.unit].append(r)
    def filed_on(a: str) -> list[Submission]:
        return sorted((s for r in reports for s in r.filings[a]), key=lambda s: (s.ts, s.event_id))

    own, theirs = filed_on(app), filed_on(other)
    forms = sorted({s.form for s in own + theirs if s.form})
    widest = max(r.apps_reached for r in reports)
    n = len(reports)
    per_unit = [
        {
            "unit": unit,
            "reports": len(rs),
            "forms": sorted({s.form for r in rs for f in r.filings.values() for s in f if s.form}),
            "content_hashes": sorted({r.content_hash for r in rs}),
        }
        for unit, rs in sorted(units.items())
    ]
    busiest = max(per_unit, key=lambda u: (u["reports"], u["unit"]))
    return Finding(
        id=finding_id(KIND, *sorted((app, other)), week),
        kind=KIND,
        app=app,
        apps=[app, other],
        severity="critical" if widest >= st.critical_apps else "warning",
        score=round(min(1.0, n / st.full_score_duplicates), 3),
        window_start=min(s.ts for s in own + theirs),
        window_end=max(s.ts for s in own + theirs),
        summary=f"{app} and {other} both received the same {n} report(s) from {len(units)} "
        f"unit(s) in week {week}"
        + (f" (forms: {', '.join(forms)})" if forms else "")
        + f"; {busiest['unit']} filed {busiest['reports']} of them twice",
        reasons=[
            Reason(
                code="same_report_two_apps",
                text=f"{n} report(s) filed by the same unit with the same content on both "
                f"{app} and {other} within {st.window_days:g} days",
                value=float(n),
                threshold=1.0,
                rule=RULE,
            ),
            Reason(
                code="apps_per_report",
                text=f"the most widely filed report reached {widest} app(s)",
                value=float(widest),
                threshold=float(st.min_apps),
                rule=RULE,
            ),
        ],
        evidence={
            "apps": [app, other],
            "week": week,
            "reports": n,
            "units": per_unit,
            "forms": forms,
            "content_hashes": sorted({r.content_hash for r in reports}),
            "event_ids": [s.event_id for s in own][: st.max_evidence],
            "accounts": sorted({s.account for s in own + theirs}),
            "other_submissions": [
                {"app": s.app, "event_id": s.event_id, "ts": s.ts}
                for s in theirs[: st.max_evidence]
            ],
        },
        confidence=1.0,
    )


def app_duplicate_filings(
    inputs: list[DetectorInput],
    settings_for: Callable[[str], Settings],
    days: float = 7.0,
) -> dict[str, int]:
    """Extra filings per app in the last `days`: filings of content their unit had already
    filed on another registered app (every filing of a duplicated content after its first,
    which the unit needed), counted on the app they were filed on. Every app of `inputs`
    is present, 0 where nothing was filed twice."""
    out = {inp.app.id: 0 for inp in inputs}
    if not inputs:
        return out
    start = max(inp.now for inp in inputs) - days * DAY
    by_content: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    for sub, _ in duplicates(inputs, settings_for):
        by_content[(sub.unit, sub.content_hash)].append(sub)
    for subs in by_content.values():
        subs.sort(key=lambda s: (s.ts, s.app, s.event_id))
        for s in subs[1:]:
            if s.ts > start:
                out[s.app] += 1
    return dict(sorted(out.items()))
