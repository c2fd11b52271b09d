"""One finding seen more than once: by the daemon in successive passes, by `tapwatch
analyze` in the overlapping windows it slides over a dump.

Finding ids are stable (kind, app and the evidence keys), so a ring seen on Monday by one
window and on Tuesday by the next is the same id. `merge_findings` makes one finding of the
two views: the text, figures and score of the stronger view (the later one if equal), the
highest severity, the whole time span, and the union of list-valued evidence (days, event
ids, accounts, bursts), so the finding keeps all its days instead of the last window's.
The daemon's store and `analyze` merge with this one function, so they keep the same
findings for the same events.

Assessment findings (shutdown candidate, needs review) and those judged from the
assessments (consolidation: which apps of a group to keep) describe the fleet as of one
instant: the latest replaces the earlier.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from tapwatch.detectors import DETECTORS
from tapwatch.detectors.assessment import ASSESSMENT_KINDS
from tapwatch.detectors.base import SEVERITIES, Finding
from tapwatch.detectors.stats import EVIDENCE_LIMIT

#: kinds that are judgements at one instant, never merged: the assessment's, and those of
#: the detectors that run on the assessments (`detect_assessed`)
INSTANT_KINDS = ASSESSMENT_KINDS | {
    kind for kind, mod in DETECTORS.items() if callable(getattr(mod, "detect_assessed", None))
}
_enc = msgspec.json.Encoder(order="sorted")
#: what merging adds to a summary when the union has more days than the view it keeps
_DAYS_NOTE = re.compile(r" \(seen on \d+ days in all: [^)]*\)$")


def merge_findings(old: Finding, new: Finding) -> Finding:
    """`new` (the later view of finding `old.id`) merged with `old` (see the module
    docstring)."""
    if new.kind in INSTANT_KINDS or old.kind != new.kind:
        return new
    base, other = (old, new) if old.score > new.score else (new, old)
    evidence = dict(base.evidence)
    for key, was in other.evidence.items():
        now = evidence.get(key)
        if now is None:
            evidence[key] = was
        elif isinstance(was, list) and isinstance(now, list):
            evidence[key] = _union(was, now)
    for key in list(evidence):  # totals of bounded lists: at least what the union holds
        if key.endswith("_total") and isinstance(evidence[key], int):
            listed = evidence.get(key[: -len("_total")])
            other_total = other.evidence.get(key)
            evidence[key] = max(
                evidence[key],
                other_total if isinstance(other_total, int) else 0,
                len(listed) if isinstance(listed, list) else 0,
            )
    summary = _DAYS_NOTE.sub("", base.summary)
    days, base_days = evidence.get("days"), base.evidence.get("days")
    if isinstance(days, list) and isinstance(base_days, list) and len(days) > len(base_days):
        summary += f" (seen on {len(days)} days in all: {days[0]} to {days[-1]})"
    return msgspec.structs.replace(
        base,
        severity=max(old.severity, new.severity, key=SEVERITIES.index),
        confidence=max(old.confidence, new.confidence),
        window_start=min(old.window_start, new.window_start),
        window_end=max(old.window_end, new.window_end),
        summary=summary,
        evidence=evidence,
    )


def _union(a: list[Any], b: list[Any]) -> list[Any]:
    """Both lists' items once each, at most EVIDENCE_LIMIT: scalars sorted, records in the
    order of their time (`start` or `ts`) where they have one, else as they came."""
    if all(isinstance(x, str | int | float) and not isinstance(x, bool) for x in a + b):
        if len({type(x) is str for x in a + b}) == 1:  # comparable: sorted
            return sorted(set(a) | set(b))[:EVIDENCE_LIMIT]
        return list(dict.fromkeys(a + b))[:EVIDENCE_LIMIT]
    seen: dict[bytes, Any] = {}
    for x in a + b:
        seen.setdefault(_enc.encode(x), x)
    out = list(seen.values())
    for time_key in ("start", "ts"):
        if all(isinstance(x, dict) and isinstance(x.get(time_key), int | float) for x in out):
            out.sort(key=lambda x, k=time_key: x[k])
            break
    return out[:EVIDENCE_LIMIT]


def merge_into(found: dict[str, Finding], findings: list[Finding]) -> None:
    """Fold findings (one window's or pass's) into `found` (id -> finding), in order."""
    for f in findings:
        was = found.get(f.id)
        found[f.id] = f if was is None else merge_findings(was, f)
