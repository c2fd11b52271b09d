"""Shutdown candidate / needs review: the score breakdown and the app's weekly trend."""

from __future__ import annotations

from typing import Any

from tapwatch.detectors.assessment import FINDING_KIND_BY_BAND, day_date
from tapwatch.exporters import svg
from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import app_links, e, facts, num_cell, table
from tapwatch.store.findings import DayActivity
from tapwatch.window import local_day_of

KINDS = tuple(FINDING_KIND_BY_BAND.values())
BASIS = (
    "the daily rollups of the app's activity (per account and day, kept for the rollup "
    "retention), its registry entry and the figures the app reports"
)


async def section(ctx: EvidenceContext) -> str:
    view = ctx.view
    since = local_day_of(view.clock(), ctx.tz) - view.rollup_days
    days = await view.findings.daily_activity(ctx.record.finding.app, since)
    ev = ctx.evidence
    signals = ev.get("signals") or {}
    rows = []
    bars = []
    for name, s in signals.items():
        rows.append(
            (
                e(name),
                num_cell(s.get("value")),
                num_cell(s.get("threshold")),
                num_cell(s.get("points"), 3),
                num_cell(s.get("weight"), 3),
                e(s.get("rule")),
            )
        )
        bars.append((name, float(s.get("points") or 0.0), float(s.get("weight") or 0.0)))
    measured = sum(w for n, _, w in bars if signals[n].get("value") is not None)
    return (
        "<h2>Shutdown score breakdown</h2>"
        + facts(
            [
                ("Score", e(f"{ev.get('score', 0):.1f} / 100 (band {ev.get('band')})")),
                ("Basis", e(ev.get("basis"))),
                (
                    "Measured weight",
                    e(f"{measured:g} points (signals without a value do not count)"),
                ),
            ]
        )
        + svg.score_bars(bars)
        + table(("Signal", "Value", "Threshold (points start)", "Points", "Weight", "Rule"), rows)
        + _conditions(ev)
        + _trend(days)
    )


def _conditions(ev: dict[str, Any]) -> str:
    """The sufficient conditions met and the siblings doing the app's job."""
    out = []
    conds = ev.get("conditions") or []
    if conds:
        out.append(
            "<h3>Sufficient conditions met</h3><p>Each lifts the score to at least its band's "
            "threshold, whatever the other signals: "
            + ", ".join(f"<code>{e(c)}</code>" for c in conds)
            + f" (additive evidence alone: {e(ev.get('additive_score'))} / 100).</p>"
        )
    sibs = ev.get("siblings") or []
    if sibs:
        rows = [
            (
                app_links([x.get("sibling")]),
                e(", ".join(f"{k} {v:g}" for k, v in (x.get("evidence") or {}).items())),
                num_cell(x.get("use_ratio")),
            )
            for x in sibs
        ]
        out.append(
            "<h3>Siblings doing the same job</h3>"
            + table(("App", "What shows the same job", "This app's use / its use"), rows)
        )
    return "".join(out)


def _trend(days: list[DayActivity]) -> str:
    if not days:
        return ""
    weeks: dict[int, list[int]] = {}
    first = days[0].day
    for dd in days:
        w = (dd.day - first) // 7
        acc = weeks.setdefault(w, [0, 0])
        acc[0] += dd.meaningful
        acc[1] += dd.events
    labels = [day_date(first + 7 * w).isoformat()[5:] for w in sorted(weeks)]
    return "<h2>Trend</h2>" + svg.line_chart(
        labels,
        [
            ("meaningful actions per week", [weeks[w][0] for w in sorted(weeks)]),
            ("all events per week", [weeks[w][1] for w in sorted(weeks)]),
        ],
        title="Activity per week (all accounts, from daily rollups)",
        unit="per week",
    )
