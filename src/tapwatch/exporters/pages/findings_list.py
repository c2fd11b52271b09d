"""GET /findings: the filtered list (alert links land here: keep these URLs)."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict

from tapwatch.detectors.base import SEVERITIES
from tapwatch.exporters.findings_api.params import KINDS, encode_cursor, parse_filters
from tapwatch.exporters.pages.layout import (
    e,
    error_page,
    fmt_time,
    layout,
    num_cell,
    select,
    severity,
    status_badge,
    table,
)
from tapwatch.exporters.redaction import redact_evidence, scrub_text
from tapwatch.exporters.web import BadRequest, inspector_view, viewer
from tapwatch.store.findings import STATUSES

_FIELDS = ("app", "kind", "severity", "status", "owner", "region", "since", "until")


async def findings_page(request: web.Request) -> web.Response:
    view, user = inspector_view(request), viewer(request)
    apps = view.registry()
    tz = view.timezone
    # The filter form sends every field; an empty one means "any".
    q = MultiDict((k, v) for k, v in request.query.items() if v.strip())
    try:
        fq = parse_filters(q, apps, tz, paging=True)
    except BadRequest as err:
        return error_page(user, err)
    page = await view.findings.query(fq)
    app_ids = sorted(set(apps) | set(await view.findings.apps_with_findings()))
    owners = sorted({a.owner for a in apps.values()})
    regions = sorted({a.region for a in apps.values()})
    g = {k: q.get(k, "") for k in (*_FIELDS, "time_field")}
    form = (
        "<form class='filters' method='get' action='/findings'>"
        f"<label>App {select('app', [(a, a) for a in app_ids], g['app'])}</label>"
        f"<label>Kind {select('kind', [(k, k) for k in KINDS], g['kind'])}</label>"
        f"<label>Severity {select('severity', [(s, s) for s in SEVERITIES], g['severity'])}"
        "</label>"
        f"<label>Status {select('status', [(s, s) for s in STATUSES], g['status'])}</label>"
        f"<label>Owner {select('owner', [(o, o) for o in owners], g['owner'])}</label>"
        f"<label>Region {select('region', [(r, r) for r in regions], g['region'])}</label>"
        f"<label>Since <input type='date' name='since' value='{e(g['since'])}'></label>"
        f"<label>Until <input type='date' name='until' value='{e(g['until'])}'></label>"
        "<label>Dates apply to "
        + select(
            "time_field",
            [("window", "the finding's window"), ("first_seen", "when first seen")],
            g["time_field"],
            any_option=False,
        )
        + "</label><button type='submit'>Filter</button></form>"
    )
    rows = []
    for r in page.records:
        f = r.finding
        summary = f.summary
        if not user.is_inspector:
            removed: set[str] = set()
            redact_evidence(f.evidence, removed)
            summary = scrub_text(summary, removed)
        rows.append(
            (
                f"<td class='nowrap'>{e(fmt_time(r.first_seen, tz))}</td>",
                f"<a href='/findings?{e(urlencode({'app': f.app}))}'>{e(f.app)}</a>",
                e(f.kind),
                severity(f.severity),
                num_cell(f.score, 2),
                status_badge(r.status),
                f"<a href='/findings/{e(f.id)}'>{e(summary)}</a>",
            )
        )
    listing = (
        table(("First seen", "App", "Kind", "Severity", "Score", "Status", "Summary"), rows)
        if rows
        else "<p class='note'>No findings match these filters.</p>"
    )
    base = {k: v for k, v in q.items() if k not in ("cursor", "offset")}
    nav = []
    if fq.after is not None or fq.offset:
        nav.append(f"<a href='/findings?{e(urlencode(base))}'>First page</a>")
    if page.next_after is not None:
        nxt = urlencode([*base.items(), ("cursor", encode_cursor(page.next_after))])
        nav.append(f"<a href='/findings?{e(nxt)}' rel='next'>Next page</a>")
    export_q = urlencode([(k, v) for k, v in q.items() if k not in ("cursor", "offset", "limit")])
    exports = (
        f"<p>Export these: <a href='/api/v1/findings.csv?{e(export_q)}'>CSV</a> · "
        f"<a href='/api/v1/findings.json?{e(export_q)}'>JSON</a></p>"
    )
    body = (
        f"<h1>Findings</h1>{form}<p>{page.total} matching, newest first.</p>{listing}"
        f"<p>{' · '.join(nav)}</p>{exports}"
    )
    return layout("Findings", body, user)
