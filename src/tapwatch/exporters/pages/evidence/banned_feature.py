"""Banned feature: where the feature was found (registry, the app's own list, events)."""

from __future__ import annotations

from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import e, facts

KINDS = ("banned_feature",)
BASIS = "the features declared in the app's registry entry and listed by the app itself"


async def section(ctx: EvidenceContext) -> str:
    ev = ctx.evidence
    items = [("Feature", e(str(ev.get("feature", "")).replace("_", " ")))]
    if ev.get("declared"):
        items.append(("Declared in the registry as", e(", ".join(ev["declared"]))))
    if ev.get("snapshot"):
        items.append(("Listed by the app as", e(", ".join(ev["snapshot"]))))
    used = ev.get("events")
    if isinstance(used, dict):
        items.append(
            (
                "Used",
                e(f"{used.get('count')} events by {used.get('accounts')} accounts in the raw "
                  "window"),
            )
        )
    return "<h2>Banned feature</h2>" + facts(items)
