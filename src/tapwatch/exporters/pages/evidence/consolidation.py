"""Consolidation: apps of one region serving the same users for one job ("one table")."""

from __future__ import annotations

from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import app_links, e, facts, num_cell, table

KINDS = ("consolidation",)
BASIS = (
    "each app's daily rollups (who was active in the last 30 days), the forms filed in the "
    "raw window, the registry's regions and categories, and each app's assessment"
)


async def section(ctx: EvidenceContext) -> str:
    ev = ctx.evidence
    pairs = [
        (
            app_links(p.get("apps") or []),
            num_cell(p.get("shared_accounts")),
            e(f"{100 * float(p.get('user_overlap') or 0):.0f}%"),
            e(", ".join(f"{k} {v:g}" for k, v in (p.get("function") or {}).items())),
        )
        for p in ev.get("pairs") or []
    ]
    use = [
        (
            app_links([app]) + (" <strong>keep</strong>" if app == ev.get("keep") else ""),
            num_cell(u.get("organic_account_days")),
            num_cell(u.get("organic_accounts")),
            e(u.get("band") or "-"),
            num_cell(u.get("annual_cost_cny")),
        )
        for app, u in (ev.get("use") or {}).items()
    ]
    return (
        "<h2>One table: apps to consolidate</h2>"
        + facts(
            [
                ("Region", e(ev.get("region"))),
                ("Keep", app_links([ev.get("keep")])),
                ("Merge", app_links(ev.get("merge") or [])),
                ("Combined annual cost (CNY)", num_cell(ev.get("combined_annual_cost_cny"))),
                ("Saving if merged (CNY, up to)", num_cell(ev.get("saving_cny"))),
                (
                    "Accounts active in any / in all",
                    e(f"{ev.get('accounts_in_any')} / {ev.get('accounts_in_all')}"),
                ),
            ]
        )
        + "<h3>Pairs: shared users and the same job</h3>"
        + table(("Apps", "Shared accounts", "Of the smaller app's", "Same job"), pairs)
        + "<h3>Each app's real use (judged 30 days)</h3>"
        + table(
            ("App", "Organic account-days", "Organic accounts", "Band", "Annual cost (CNY)"),
            use,
        )
    )
