"""GET /findings/{id}: one finding as a person reads it; POST /findings/{id}/status: an
inspector's decision from the page's form (per-session CSRF token).

The common parts (facts, reasons, evidence events, audit log, decision form, the evidence
as recorded) are drawn here; the kind's own section comes from pages/evidence/.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tapwatch.events import Event, EventType
from tapwatch.exporters.findings_api.params import check_id
from tapwatch.exporters.findings_api.status import apply_status
from tapwatch.exporters.pages.evidence import SECTIONS, EvidenceContext
from tapwatch.exporters.pages.layout import (
    e,
    error_page,
    facts,
    fmt_time,
    layout,
    num_cell,
    pseudo,
    severity,
    status_badge,
    table,
)
from tapwatch.exporters.redaction import redact_evidence, scrub_text
from tapwatch.exporters.view import EvidencePage, InspectorView
from tapwatch.exporters.web import (
    BadRequest,
    Viewer,
    check_form_csrf,
    inspector_view,
    viewer,
)
from tapwatch.store.findings import STATUSES, FindingRecord

_HEX16 = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{8}\b")
#: evidence events read for the page, and shown of those
EVENTS_READ = 500
EVENTS_SHOWN = 200


def _reasons(rec: FindingRecord, removed: set[str]) -> str:
    rows = [
        (
            f"<code>{e(r.code)}</code>",
            e(scrub_text(r.text, removed) if removed else r.text),
            num_cell(r.value),
            num_cell(r.threshold),
            e(r.rule or ""),
        )
        for r in rec.finding.reasons
    ]
    return "<h2>Reasons</h2>" + table(
        ("Code", "What was measured", "Value", "Threshold", "Rule"), rows
    )


def _event_row(x: Event, tz: Any) -> tuple[str, ...]:
    return (
        e(fmt_time(x.ts, tz)),
        e(EventType(x.type).name),
        pseudo(x.account),
        pseudo(x.device) if x.device else "-",
        e(x.point or "-"),
        e(f"{x.lat:.5f}, {x.lon:.5f}") if x.lat is not None and x.lon is not None else "-",
        f"<span class='mono'>{e(x.id)}</span>",
    )


def _events_table(page: EvidencePage, tz: Any) -> str:
    if not page.events:
        return (
            "<h2>Evidence events</h2><p class='note'>No evidence events are stored any "
            "more (raw events are kept for the raw retention window; confirming a finding "
            "holds its evidence).</p>"
        )
    where = {
        "held": "held for this confirmed finding (kept past raw retention)",
        "raw": "from the raw store (deleted after the raw retention window unless the "
        "finding is confirmed)",
    }[page.source]
    events = page.events
    rows = [_event_row(x, tz) for x in events[:EVENTS_SHOWN]]
    more = f"<p>First {EVENTS_SHOWN} of {len(events)}.</p>" if len(events) > EVENTS_SHOWN else ""
    return (
        f"<h2>Evidence events</h2><p>{len(events)} events {e(where)}.</p>"
        + table(("Time", "Type", "Account", "Device", "Point", "Position", "Event id"), rows)
        + more
    )


def _status_form(rec: FindingRecord, csrf: str | None, message: str = "") -> str:
    if csrf is None:
        return ""
    opts = "".join(f"<option value='{e(s)}'>{e(s)}</option>" for s in STATUSES if s != rec.status)
    msg = f"<p class='error'>{e(message)}</p>" if message else ""
    return (
        "<h2>Decision</h2>"
        + msg
        + f"<form method='post' action='/findings/{e(rec.finding.id)}/status'>"
        f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
        f"<label>New status <select name='status'>{opts}</select></label> "
        "<p><label>Reason (needed to dismiss)<br>"
        "<textarea name='reason' rows='3' maxlength='2000'></textarea></label></p>"
        "<button type='submit'>Record decision</button></form>"
    )


def _audit(entries: list[Any], tz: Any) -> str:
    if not entries:
        return "<h2>Audit log</h2><p>No decisions yet.</p>"
    return "<h2>Audit log</h2>" + table(
        ("When", "Who", "From", "To", "Reason"),
        [
            (
                e(fmt_time(a.at, tz)),
                e(a.actor),
                e(a.from_status or "-"),
                e(a.to_status),
                e(a.reason or ""),
            )
            for a in entries
        ],
    )


async def finding_body(
    view: InspectorView, rec: FindingRecord, user: Viewer, message: str = ""
) -> str:
    """The page's body for this user (a viewer's without personal values)."""
    tz = view.timezone
    f = rec.finding
    reg = view.registry().get(f.app)
    full = user.is_inspector
    removed: set[str] = set()
    ev: dict[str, Any] = f.evidence if full else redact_evidence(f.evidence, removed)
    summary = scrub_text(f.summary, removed) if removed else f.summary
    parts = [
        f"<h1>{e(f.kind)} on {e(f.app)}</h1><p>{e(summary)}</p>",
        facts(
            [
                (
                    "App",
                    f"<a href='/findings?{e(urlencode({'app': f.app}))}'>{e(f.app)}</a>"
                    + (f" · {e(reg.name)} · {e(reg.owner)} · {e(reg.region)}" if reg else ""),
                ),
                ("Status", status_badge(rec.status)),
                ("Severity", severity(f.severity)),
                ("Score", e(f"{f.score:.2f}")),
                ("Confidence", e(f"{f.confidence:.2f}")),
                ("Window", e(f"{fmt_time(f.window_start, tz)} to {fmt_time(f.window_end, tz)}")),
                (
                    "First seen / last seen",
                    e(f"{fmt_time(rec.first_seen, tz)} / {fmt_time(rec.last_seen, tz)}"),
                ),
                ("Finding id", f"<span class='mono'>{e(f.id)}</span>"),
            ]
        ),
    ]
    if not full:
        parts.append(
            "<p class='note'>You are a viewer: accounts, devices, positions, event "
            "ids and timelines are left out.</p>"
        )
    section = SECTIONS.get(f.kind)
    if section is not None:
        parts.append(await section(EvidenceContext(rec, ev, full, tz, view)))
    parts.append(_reasons(rec, removed))
    if full:
        page = await view.findings.evidence(rec, 0, EVENTS_READ)
        parts.append(_events_table(page, tz))
        parts.append(_audit(await view.findings.audit(f.id), tz))
        parts.append(_status_form(rec, user.csrf, message))
    shown = _HEX16.sub(r"\1…", json.dumps(ev, indent=1, ensure_ascii=False, default=str))
    parts.append(
        f"<details><summary>Evidence as recorded (JSON)</summary><pre>{e(shown)}</pre></details>"
    )
    return "".join(parts)


async def finding_page(request: web.Request) -> web.Response:
    view, user = inspector_view(request), viewer(request)
    try:
        fid = check_id(request.match_info["id"])
    except BadRequest as err:
        return error_page(user, err)
    rec = await view.findings.get(fid)
    if rec is None:
        return error_page(user, BadRequest("no such finding", {"id": fid}, 404))
    body = await finding_body(view, rec, user)
    return layout(f"{rec.finding.kind} {rec.finding.app}", body, user)


async def status_submit(request: web.Request) -> web.Response:
    view, user = inspector_view(request), viewer(request)
    form = await request.post()
    try:
        check_form_csrf(user, form)
        if not user.is_inspector:
            raise BadRequest("this needs the inspector role", {"role": user.role}, 403)
        fid = check_id(request.match_info["id"])
        to = str(form.get("status", ""))
        if to not in STATUSES:
            raise BadRequest("status must be one of " + ", ".join(STATUSES), None)
        await apply_status(view, fid, to, user, str(form.get("reason", "")) or None)
    except BadRequest as err:
        rec = None
        if err.status in (400, 409):
            rec = await view.findings.get(request.match_info["id"])
        if rec is None:
            return error_page(user, err)
        body = await finding_body(view, rec, user, message=err.error)
        return layout("Decision not recorded", body, user, status=err.status)
    raise web.HTTPSeeOther(f"/findings/{fid}")
