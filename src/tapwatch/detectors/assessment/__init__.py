"""Shutdown assessment: is this app an empty shell that should be shut down?

The 2023 Opinions ask that apps "with low usage frequency and little practical value" be
shut down promptly and that empty-shell and zombie apps be prevented. Each app gets a
0-100 score and a band, in three steps, each in its own module:

1. **signals** (`facts.py`, `history.py`, `fleet.py`, `signals.py`): reach, dormancy,
   decline against the app's own past, depth, unused features, maintenance, redundancy
   with a sibling doing the same job, cost per organic account against the fleet median;
2. **combination** (`combination.py`): the additive evidence of the signals, lifted to a
   floor by any sufficient condition met (an empty shell by reach and cost, an abandoned
   app, a zombie, a small sibling of a busy app doing the same job);
3. **guard rails** (`guard_rails.py`): exempt apps, new apps, too little data, seasonal
   apps out of season, apps used by most of their intended users.

Pure: time comes from `DetectorInput.now`, no I/O. How the defaults were calibrated:
docs/detectors.md.
"""

from __future__ import annotations

from tapwatch.detectors.assessment.facts import (
    UsageFacts,
    day_date,
    excluded_mask,
    measure,
    organic_active_accounts,
)
from tapwatch.detectors.assessment.model import Assessment, Condition, Signal
from tapwatch.detectors.assessment.report import assess, assess_fleet, assessment_finding
from tapwatch.detectors.assessment.settings import (
    ASSESSMENT_KINDS,
    BANDS,
    FINDING_KIND_BY_BAND,
    KIND,
    SIGNALS,
    Settings,
    Weights,
)

__all__ = [
    "ASSESSMENT_KINDS",
    "BANDS",
    "FINDING_KIND_BY_BAND",
    "KIND",
    "SIGNALS",
    "Assessment",
    "Condition",
    "Settings",
    "Signal",
    "UsageFacts",
    "Weights",
    "assess",
    "assess_fleet",
    "assessment_finding",
    "day_date",
    "excluded_mask",
    "measure",
    "organic_active_accounts",
]
