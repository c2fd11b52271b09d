"""Deadline concentration: submissions by hour and by day of month, per day and month."""

from __future__ import annotations

from tapwatch.exporters import svg
from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import e, num_cell, table

KINDS = ("deadline_concentration",)
BASIS = (
    "the hourly counts of the app's submissions in the daily rollups"
)


async def section(ctx: EvidenceContext) -> str:
    ev = ctx.evidence
    out = ["<h2>Deadline concentration</h2>"]
    hh = ev.get("hour_histogram")
    if hh:
        out.append("<h3>Submissions by hour of day</h3>")
        out.append(
            svg.bar_chart(
                hh,
                [f"{h:02d}" for h in range(len(hh))],
                title="Submissions by hour of day (local time)",
                unit="submissions",
            )
        )
    per_day = ev.get("per_day")
    if per_day:
        out.append(
            table(
                ("Date", "Submissions", "Before the deadline", "Share", "Judged"),
                [
                    (
                        e(p["date"]),
                        num_cell(p["submissions"]),
                        num_cell(p["before_deadline"]),
                        e(f"{p['share']:.0%}"),
                        e("yes" if p.get("judged") else "no"),
                    )
                    for p in per_day
                ],
            )
        )
    dom = ev.get("day_of_month_histogram")
    if dom:
        out.append("<h3>Submissions by day of month</h3>")
        out.append(
            svg.bar_chart(
                dom,
                [str(i + 1) for i in range(len(dom))],
                title="Submissions by day of month",
                unit="submissions",
                highlight=frozenset(range(len(dom) - 3, len(dom))),
            )
        )
    per_month = ev.get("per_month")
    if per_month:
        out.append(
            table(
                ("Month", "Submissions", "In the last days", "Share", "Times the calendar share"),
                [
                    (
                        e(m["month"]),
                        num_cell(m["submissions"]),
                        num_cell(m["month_end_submissions"]),
                        e(f"{m['share']:.0%}"),
                        num_cell(m["ratio_to_calendar"]),
                    )
                    for m in per_month
                ],
            )
        )
    return "".join(out)
