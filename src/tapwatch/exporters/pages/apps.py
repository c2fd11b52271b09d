"""GET /apps: the fleet by assessment band, shutdown candidates first."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from tapwatch.detectors.assessment import BANDS
from tapwatch.exporters.findings_api.apps import assessments_json
from tapwatch.exporters.pages.layout import e, fmt_time, layout, num_cell, table
from tapwatch.exporters.web import inspector_view, viewer

#: what the band is, next to an app's findings: a kept app may have critical findings
BANDS_AND_FINDINGS = (
    "The band answers one question: should the app exist? It weighs organic use against "
    "the intended users, dormancy, the trend, depth of use, unused features, maintenance, "
    "redundancy and cost. Findings answer another: how is the app used? A check-in app "
    "that people really use is kept, and can still have critical bulk check-in findings: "
    "those call for changing how the app is used (no mandatory check-ins, no ranking), not "
    "for shutting it down. Each kind of finding is dealt with on its own page."
)


def _open_findings(app: str, counts: dict[str, dict[str, int]]) -> str:
    """'3 (2 critical)', linked to the app's findings; '0' when it has none."""
    by_sev = counts.get(app, {})
    n = sum(by_sev.values())
    if not n:
        return "<td class='num'>0</td>"
    worst = [f"{by_sev[s]} {s}" for s in ("critical", "warning") if by_sev.get(s)]
    q = urlencode([("app", app), ("status", "open"), ("status", "confirmed")])
    label = f"{n} ({', '.join(worst)})" if worst else str(n)
    return f"<td class='num'><a href='/findings?{e(q)}'>{e(label)}</a></td>"


async def apps_page(request: web.Request) -> web.Response:
    view, user = inspector_view(request), viewer(request)
    rows = assessments_json(view)
    counts = await view.findings.open_by_severity()
    per_band = {b: 0 for b in (*BANDS, None)}
    for r in rows:
        per_band[r["band"]] = per_band.get(r["band"], 0) + 1
    band_rows = [(e(b or "not assessed yet"), num_cell(n)) for b, n in per_band.items() if n]
    parts = [
        "<h1>Apps</h1>",
        f"<p>Assessed {e(fmt_time(view.assessed_at, view.timezone))}.</p>",
        table(("Band", "Apps"), band_rows),
        f"<p class='note'>{e(BANDS_AND_FINDINGS)}</p>",
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
                    "Open findings",
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
                        _open_findings(r["app"], counts),
                    )
                    for r in chosen
                ],
            )
        )
    others = [r for r in rows if r["band"] not in ("candidate", "review")]
    parts.append(f"<h2>Other apps ({len(others)})</h2>")
    parts.append(
        table(
            ("App", "Name", "Owner", "Band", "Score", "Open findings", "All findings"),
            [
                (
                    e(r["app"]),
                    e(r["name"]),
                    e(r["owner"]),
                    e(r["band"] or "-"),
                    num_cell(r["score"]),
                    _open_findings(r["app"], counts),
                    f"<a href='/findings?{e(urlencode({'app': r['app']}))}'>findings</a>",
                )
                for r in others
            ],
        )
    )
    return layout("Apps", "".join(parts), user)
