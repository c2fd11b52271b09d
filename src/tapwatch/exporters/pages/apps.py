"""GET /apps: the fleet by assessment band, shutdown candidates first."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from tapwatch.detectors.assessment import BANDS
from tapwatch.exporters.findings_api.apps import assessments_json
from tapwatch.exporters.pages.layout import e, fmt_time, layout, num_cell, table
from tapwatch.exporters.web import inspector_view, viewer


async def apps_page(request: web.Request) -> web.Response:
    view, user = inspector_view(request), viewer(request)
    rows = assessments_json(view)
    counts = {b: 0 for b in (*BANDS, None)}
    for r in rows:
        counts[r["band"]] = counts.get(r["band"], 0) + 1
    band_rows = [(e(b or "not assessed yet"), num_cell(n)) for b, n in counts.items() if n]
    parts = [
        "<h1>Apps</h1>",
        f"<p>Assessed {e(fmt_time(view.assessed_at, view.timezone))}.</p>",
        table(("Band", "Apps"), band_rows),
    ]
    for band, title in (("candidate", "Shutdown candidates"), ("review", "Needs review")):
        chosen = [r for r in rows if r["band"] == band]
        parts.append(f"<h2>{e(title)} ({len(chosen)})</h2>")
        if not chosen:
            parts.append("<p>None.</p>")
            continue
        parts.append(
            table(
                (
                    "App",
                    "Name",
                    "Owner",
                    "Region",
                    "Score",
                    "Confidence",
                    "Main reasons",
                    "Evidence",
                ),
                [
                    (
                        e(r["app"]),
                        e(r["name"]),
                        e(r["owner"]),
                        e(r["region"]),
                        num_cell(r["score"]),
                        num_cell(r["confidence"], 2),
                        "<ul>"
                        + "".join(f"<li>{e(x['text'])}</li>" for x in r["reasons"][:3])
                        + "</ul>",
                        f"<a href='/findings/{e(r['finding_id'])}'>score breakdown</a>"
                        if r["finding_id"]
                        else "-",
                    )
                    for r in chosen
                ],
            )
        )
    others = [r for r in rows if r["band"] not in ("candidate", "review")]
    parts.append(f"<h2>Other apps ({len(others)})</h2>")
    parts.append(
        table(
            ("App", "Name", "Owner", "Band", "Score", "Findings"),
            [
                (
                    e(r["app"]),
                    e(r["name"]),
                    e(r["owner"]),
                    e(r["band"] or "-"),
                    num_cell(r["score"]),
                    f"<a href='/findings?{e(urlencode({'app': r['app']}))}'>findings</a>",
                )
                for r in others
            ],
        )
    )
    return layout("Apps", "".join(parts), user)
