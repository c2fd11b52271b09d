"""Duplicate reporting: the same report from the same unit filed on several apps.

Officials describe one cultural event approved on four platforms, and departments that could
share data asking the grass roots to re-report it. A form submission carries the unit
(organisation) that filed it and a hash of its content; the same (unit, content_hash) filed
to two or more registered apps within `window_days` is a duplicate.

One finding per (app, unit, ISO week of the app's submissions): its id stays the same while
more duplicates of that week arrive, and every app involved gets its own finding (its own
event ids and accounts) naming the other apps. `app_duplicate_filings` counts the extra
filings each app received in the last week (per app: a unit is never a metric label).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
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
        10, ge=1, description="Duplicate filings (in one app, unit and week) that give score 1."
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
    week: str  # ISO week of the filing in the app's time zone, e.g. "2026-W48"


def submissions(inp: DetectorInput) -> list[Submission]:
    """Every form_submit of one app that names its unit and content hash."""
    ev = inp.events
    rows = np.flatnonzero(
        (ev.type == int(EventType.form_submit)) & (ev.unit >= 0) & (ev.content_hash >= 0)
    )
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
                week=f"{iso.year}-W{iso.week:02d}",
            )
        )
    return out


def _by_content(inputs: list[DetectorInput]) -> dict[tuple[str, str], list[Submission]]:
    groups: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    for inp in inputs:
        for sub in submissions(inp):
            groups[(sub.unit, sub.content_hash)].append(sub)
    return groups


def duplicates(
    inputs: list[DetectorInput], settings_for: Callable[[str], Settings]
) -> list[tuple[Submission, list[Submission]]]:
    """Each submission that is a duplicate, with the filings of the same content by the same
    unit in other apps within the submitting app's `window_days`."""
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


def detect_fleet(
    inputs: list[DetectorInput], settings_for: Callable[[str], Settings]
) -> list[Finding]:
    """One finding per (app, unit, ISO week) with duplicate filings in that app."""
    by_key: dict[tuple[str, str, str], list[tuple[Submission, list[Submission]]]] = defaultdict(
        list
    )
    for sub, others in duplicates(inputs, settings_for):
        by_key[(sub.app, sub.unit, sub.week)].append((sub, others))
    findings = []
    for (app, unit, week), dups in sorted(by_key.items()):
        st = settings_for(app)
        own = [d[0] for d in dups]
        other_subs = sorted(
            {(o.app, o.event_id, o.ts) for _, others in dups for o in others},
            key=lambda o: (o[2], o[0], o[1]),
        )
        apps = sorted({app} | {o[0] for o in other_subs})
        hashes = sorted({s.content_hash for s in own})
        accounts = sorted({s.account for s in own})
        n = len(own)
        findings.append(
            Finding(
                id=finding_id(KIND, app, unit, week),
                kind=KIND,
                app=app,
                severity="critical" if len(apps) >= st.critical_apps else "warning",
                score=round(min(1.0, n / st.full_score_duplicates), 3),
                window_start=min(s.ts for s in own),
                window_end=max(s.ts for s in own),
                summary=f"unit {unit} filed {len(hashes)} report(s) here that it also filed on "
                f"{len(apps) - 1} other app(s) ({', '.join(a for a in apps if a != app)}) "
                f"in week {week}",
                reasons=[
                    Reason(
                        code="same_content_other_apps",
                        text=f"{n} filing(s) of content also sent to {len(apps) - 1} other "
                        f"app(s) within {st.window_days:g} days",
                        value=float(len(apps)),
                        threshold=float(st.min_apps),
                        rule=RULE,
                    )
                ],
                evidence={
                    "unit": unit,
                    "week": week,
                    "content_hashes": hashes,
                    "apps": apps,
                    "event_ids": [s.event_id for s in own][: st.max_evidence],
                    "accounts": accounts,
                    "other_submissions": [
                        {"app": a, "event_id": i, "ts": t}
                        for a, i, t in other_subs[: st.max_evidence]
                    ],
                },
                confidence=1.0,
            )
        )
    return findings


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
