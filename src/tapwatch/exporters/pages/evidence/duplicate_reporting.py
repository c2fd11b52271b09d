"""Duplicate reporting: the reports a pair of apps both received, per unit and form."""

from __future__ import annotations

from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import app_links, e, facts, num_cell, table

KINDS = ("duplicate_reporting",)


async def section(ctx: EvidenceContext) -> str:
    ev = ctx.evidence
    rows = [
        (
            e(u.get("unit")),
            num_cell(u.get("reports")),
            e(", ".join(u.get("forms") or []) or "-"),
            num_cell(len(u.get("content_hashes") or [])),
        )
        for u in ev.get("units") or []
    ]
    return (
        "<h2>Reports filed on both apps</h2>"
        + facts(
            [
                ("Apps", app_links(ev.get("apps") or [])),
                ("Week", e(ev.get("week"))),
                ("Reports", e(ev.get("reports"))),
                ("Forms", e(", ".join(ev.get("forms") or []) or "-")),
            ]
        )
        + table(("Unit", "Reports filed twice", "Forms", "Contents"), rows)
    )
