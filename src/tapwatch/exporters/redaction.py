"""What a viewer may not see: personal values taken out of a finding's evidence and text.

A `viewer` gets findings without personal evidence: no accounts, devices, coordinates,
event ids or timelines, in the evidence or in the summary and reason texts. The API and
the pages redact the same way.
"""

from __future__ import annotations

import re
from typing import Any

#: Evidence keys that name people, phones, places people stood or single events. Numbers
#: under these keys are counts (e.g. a burst's "accounts": 12) and stay.
PERSONAL_KEYS = frozenset(
    {
        "accounts",
        "accounts_elsewhere",
        "account",
        "devices",
        "device",
        "networks",
        "network",
        "coordinates",
        "centre",
        "lat",
        "lon",
        "timeline",
        "event_ids",
        "example_event_ids",
        "other_submissions",
        "example_first_actions",
        "photo_hashes",
    }
)
_COORD_RE = re.compile(r"-?\d{1,3}\.\d{2,}\s*,\s*-?\d{1,3}\.\d{2,}")


def _personal_strings(v: Any, out: set[str]) -> None:
    if isinstance(v, str):
        if len(v) >= 4:
            out.add(v)
    elif isinstance(v, dict):
        for k, x in v.items():
            if any(c.isdigit() for c in k):  # keyed by pseudonym or id, not a field name
                _personal_strings(k, out)
            _personal_strings(x, out)
    elif isinstance(v, list | tuple):
        for x in v:
            _personal_strings(x, out)


def redact_evidence(v: Any, removed: set[str]) -> Any:
    """The evidence without personal values (collected into `removed`)."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in PERSONAL_KEYS and not (isinstance(x, int | float) or x is None):
                _personal_strings(x, removed)
                continue
            out[k] = redact_evidence(x, removed)
        return out
    if isinstance(v, list):
        return [redact_evidence(x, removed) for x in v]
    return v


def scrub_text(text: str, removed: set[str]) -> str:
    """Text with removed personal values and coordinates blanked out."""
    for s in sorted(removed, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "[redacted]")
    return _COORD_RE.sub("[location]", text)
