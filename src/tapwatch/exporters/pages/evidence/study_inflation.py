"""Study inflation: credited study time against the wall clock, and playback rates."""

from __future__ import annotations

from tapwatch.exporters import svg
from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import e, num_cell, table

KINDS = ("study_inflation",)
BASIS = (
    "per-account daily study time, credited against time spent, from the daily rollups"
)


async def section(ctx: EvidenceContext) -> str:
    ev = ctx.evidence
    out = ["<h2>Study time: credited against the clock</h2>"]
    per_day = ev.get("credit_vs_wall_clock")
    if per_day:
        out.append(
            svg.paired_bars(
                [p["date"][5:] for p in per_day],
                [p["credited_s"] / 3600 for p in per_day],
                [p["wall_clock_s"] / 3600 for p in per_day],
                names=("credited study hours", "wall-clock hours spent"),
                title="Credited study time against wall-clock time per day",
                unit="hours",
            )
        )
        out.append(
            table(
                ("Date", "Credited h", "Wall clock h", "Account-days", "Inflated account-days"),
                [
                    (
                        e(p["date"]),
                        num_cell(p["credited_s"] / 3600),
                        num_cell(p["wall_clock_s"] / 3600),
                        num_cell(p["account_days"]),
                        num_cell(p["inflated_account_days"]),
                    )
                    for p in per_day
                ],
            )
        )
    rates = ev.get("playback_rate_histogram")
    if rates:
        edges = rates["edges"]
        labels = [
            f"{edges[i]:g}x" + ("+" if edges[i + 1] is None else "")
            for i in range(len(rates["counts"]))
        ]
        out.append("<h3>Playback rates</h3>")
        out.append(
            svg.bar_chart(
                rates["counts"], labels, title="Study events by playback rate", unit="events"
            )
        )
    daily = ev.get("daily_study")
    if daily:
        out.append(
            svg.bar_chart(
                [p["credited_s"] / 3600 for p in daily],
                [p["date"][5:] for p in daily],
                title="Credited study hours per day",
                unit="hours",
            )
        )
    return "".join(out)
