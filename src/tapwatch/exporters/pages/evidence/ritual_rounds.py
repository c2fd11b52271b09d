"""Ritual rounds: the same accounts opening many apps within minutes, day after day."""

from __future__ import annotations

from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import app_links, e, facts, num_cell, pseudo, table

KINDS = ("ritual_rounds",)
BASIS = (
    "every app's raw events of the raw window (who opened which app when), linked across "
    "apps by the accounts' pseudonyms"
)


async def section(ctx: EvidenceContext) -> str:
    ev = ctx.evidence
    rounders = ev.get("rounders_per_app") or {}
    per_app = [(app_links([a]), num_cell(n)) for a, n in rounders.items()]
    sizes = [(e(k), num_cell(n)) for k, n in (ev.get("apps_per_round") or {}).items()]
    out = [
        "<h2>A daily round across apps</h2>",
        facts(
            [
                ("Apps", app_links(ev.get("apps") or [])),
                ("Accounts making the round", e(ev.get("accounts_total"))),
                ("Rounds (account-days)", e(ev.get("rounds"))),
                ("Days", e(ev.get("days"))),
                ("Median minutes per round", e(ev.get("round_minutes_median"))),
            ]
        ),
        table(("App", "Accounts that take it in their round"), per_app),
        table(("Apps opened in one round", "Rounds"), sizes),
    ]
    examples = ev.get("example_rounds") or []
    if ctx.full and examples:
        out.append(
            "<h3>Example rounds</h3>"
            + table(
                ("Date", "Account", "Apps", "Minutes"),
                [
                    (
                        e(x.get("date")),
                        pseudo(x.get("account")),
                        e(", ".join(x.get("apps") or [])),
                        num_cell(x.get("minutes")),
                    )
                    for x in examples
                ],
            )
        )
    return "".join(out)
