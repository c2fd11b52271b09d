"""Evidence sections of the finding page, one module per finding kind.

A module here defines `KINDS` (the finding kinds it draws) and
`async def section(ctx: EvidenceContext) -> str` (HTML, everything from data escaped), and,
for kinds whose evidence names no single event, `BASIS`: what the finding rests on, in a
few words ("the daily rollups of ...").
Every module of this package is loaded at import and checked, so a new finding kind gets
its own section by adding one module; kinds without one show the common parts only
(facts, reasons, evidence events, the evidence as recorded).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tapwatch.exporters.view import InspectorView
from tapwatch.store.findings import FindingRecord


@dataclass(frozen=True, slots=True)
class EvidenceContext:
    """What a section draws from."""

    record: FindingRecord
    #: the finding's evidence, without personal values unless `full`
    evidence: dict[str, Any]
    #: an inspector: may see accounts, devices, positions and timelines
    full: bool
    tz: ZoneInfo
    view: InspectorView


Section = Callable[[EvidenceContext], Awaitable[str]]


def _load() -> tuple[dict[str, Section], dict[str, str]]:
    sections: dict[str, Section] = {}
    bases: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        kinds, section = getattr(mod, "KINDS", None), getattr(mod, "section", None)
        if not isinstance(kinds, tuple) or not callable(section):
            raise TypeError(f"{mod.__name__}: define KINDS (a tuple) and async section(ctx)")
        for kind in kinds:
            if kind in sections:
                raise TypeError(f"{mod.__name__}: kind {kind!r} already has a section")
            sections[kind] = section
            if isinstance(getattr(mod, "BASIS", None), str):
                bases[kind] = mod.BASIS
    return sections, bases


#: finding kind -> its evidence section, and what a kind's findings rest on where they
#: name no single event
SECTIONS, BASES = _load()
