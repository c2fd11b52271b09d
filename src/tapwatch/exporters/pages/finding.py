"""GET /findings/{id}: one finding as a person reads it; POST /findings/{id}/status: an
inspector's decision from the page's form (per-session CSRF token).

The common parts (facts, reasons, evidence events, audit log, decision form, the evidence
as recorded) are drawn here; the kind's own section comes from pages/evidence/.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from tapwatch.detectors.assessment import ASSESSMENT_KINDS
from tapwatch.events import Event, EventType
from tapwatch.exporters.cache import RecentResults
from tapwatch.exporters.findings_api.params import check_id, integer, no_unknown
from tapwatch.exporters.findings_api.status import apply_status
from tapwatch.exporters.pages.evidence import BASES, SECTIONS, EvidenceContext
from tapwatch.exporters.pages.layout import (
    app_links,
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
from tapwatch.store.findings import MAX_EVIDENCE_EVENTS, STATUSES, AuditEntry, FindingRecord

_HEX16 = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{8}\b")
#: evidence events per page (a page of 500 was 8,000 px tall)
EVENTS_PER_PAGE = 50
#: what a finding that names no single event rests on, for kinds whose section does not say
DEFAULT_BASIS = (
    "counts kept in the daily rollups (per account and day, per hour), which outlive the "
    "raw events"
)
NO_RULE = "a measurement that supports the others (no rule of its own)"


def _as_json(evidence: dict[str, Any]) -> str:
    """The evidence as indented JSON (msgspec: json.dumps with indent is pure Python, and
    this block was most of a finding page's cost)."""
    raw = msgspec.json.encode(evidence, enc_hook=str)
    return msgspec.json.format(raw, indent=1).decode()


def _reasons(rec: FindingRecord, removed: set[str]) -> str:
    rows = [
        (
            f"<code>{e(r.code)}</code>",
            e(scrub_text(r.text, removed) if removed else r.text),
            num_cell(r.value),
            num_cell(r.threshold),
            e(r.rule) if r.rule else f"<span class='muted'>{e(NO_RULE)}</span>",
        )
        for r in rec.finding.reasons
    ]
    return "<h2>Reasons</h2>" + table(
        ("Code", "What was measured", "Value", "Threshold", "Rule"), rows
    )


def _event_row(x: Event, tz: ZoneInfo) -> tuple[str, ...]:
    return (
        e(fmt_time(x.ts, tz)),
        e(x.app),
        e(EventType(x.type).name),
        pseudo(x.account),
        pseudo(x.device) if x.device else "-",
        e(x.point or "-"),
        e(f"{x.lat:.5f}, {x.lon:.5f}") if x.lat is not None and x.lon is not None else "-",
        f"<span class='mono'>{e(x.id)}</span>",
    )


def _events_nav(fid: str, page: EvidencePage) -> str:
    """First / previous / next / last links of the evidence events' pages."""
    last = (page.total - 1) // EVENTS_PER_PAGE * EVENTS_PER_PAGE
    prev = max(0, page.offset - EVENTS_PER_PAGE)
    nxt = page.offset + EVENTS_PER_PAGE
    links = []
    for label, offset, rel, shown in (
        ("First", 0, "", page.offset > 0),
        ("Previous", prev, "prev", page.offset > 0),
        ("Next", nxt, "next", nxt < page.total),
        ("Last", last, "", nxt < page.total),
    ):
        if shown:
            q = urlencode({"events_offset": offset})
            rel_attr = f" rel='{rel}'" if rel else ""
            links.append(f"<a href='/findings/{e(fid)}?{e(q)}#events'{rel_attr}>{label}</a>")
    return f"<p class='pager'>{' · '.join(links)}</p>" if links else ""


def _events_table(fid: str, kind: str, page: EvidencePage, tz: ZoneInfo) -> str:
    head = "<h2 id='events'>Evidence events</h2>"
    if page.source == "not_event_based":
        basis = BASES.get(kind, DEFAULT_BASIS)
        return head + (
            f"<p class='note'>This finding rests on {e(basis)}, shown above; it names no "
            "single event, so there is no list of events to show.</p>"
        )
    if page.source == "none":
        return head + (
            "<p class='note'>The events this finding names are no longer stored (raw events "
            "are kept for the raw retention window; confirming a finding holds its "
            "evidence).</p>"
        )
    where = {
        "held": "held for this confirmed finding (kept past raw retention)",
        "raw": "from the raw store (deleted after the raw retention window unless the "
        "finding is confirmed)",
    }[page.source]
    shown = (
        f"{page.offset + 1}-{page.offset + len(page.events)} of {page.total}"
        if page.events
        else f"none past {page.total}"
    )
    return (
        f"{head}<p>{page.total} events {e(where)}; {shown}, in time order.</p>"
        + _events_nav(fid, page)
        + table(
            ("Time", "App", "Type", "Account", "Device", "Point", "Position", "Event id"),
            [_event_row(x, tz) for x in page.events],
        )
        + _events_nav(fid, page)
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


def _audit(entries: list[AuditEntry], tz: ZoneInfo) -> str:
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


def _band_fact(view: InspectorView, app: str, kind: str) -> list[tuple[str, str]]:
    """Beside a finding about how the app is used, the app's shutdown band, and why the
    two can disagree (a kept app may have critical findings)."""
    if kind in ASSESSMENT_KINDS:
        return []
    a = view.assessments().get(app)
    if a is None:
        return []
    return [
        (
            "App's shutdown band",
            f"<a href='/apps'>{e(a.band)}</a> (score {e(f'{a.score:.0f}')}/100): the band "
            "judges whether the app should exist; this finding is about how it is used, and "
            "is dealt with on its own",
        )
    ]


#: a finding's drawn evidence by (id, status, last sighting, inspector?, events page)
DRAWN_KEY: web.AppKey[RecentResults[tuple[str, str]]] = web.AppKey("drawn_findings")


async def _draw(
    view: InspectorView, rec: FindingRecord, full: bool, events_offset: int
) -> tuple[str, str]:
    """The parts of the page drawn from the evidence alone: the kind's section, the
    reasons and the events (before the audit log), and the evidence as recorded."""
    tz = view.timezone
    f = rec.finding
    removed: set[str] = set()
    ev: dict[str, Any] = f.evidence if full else redact_evidence(f.evidence, removed)
    parts = []
    section = SECTIONS.get(f.kind)
    if section is not None:
        parts.append(await section(EvidenceContext(rec, ev, full, tz, view)))
    parts.append(_reasons(rec, removed))
    if full:
        page = await view.findings.evidence(rec, events_offset, EVENTS_PER_PAGE)
        parts.append(_events_table(f.id, f.kind, page, tz))
    shown = _HEX16.sub(r"\1…", _as_json(ev))
    recorded = (
        f"<details><summary>Evidence as recorded (JSON)</summary><pre>{e(shown)}</pre></details>"
    )
    return "".join(parts), recorded


async def finding_body(
    view: InspectorView,
    rec: FindingRecord,
    user: Viewer,
    drawn: RecentResults[tuple[str, str]],
    events_offset: int = 0,
    message: str = "",
) -> str:
    """The page's body for this user (a viewer's without personal values). What is drawn
    from the evidence alone is kept in `drawn`: an alert sends many inspectors to one
    finding at once."""
    tz = view.timezone
    f = rec.finding
    reg = view.registry().get(f.app)
    full = user.is_inspector
    summary = f.summary
    if not full:
        removed: set[str] = set()
        redact_evidence(f.evidence, removed)
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
                *(
                    [("About the apps", app_links(f.apps) + " (one finding for all of them)")]
                    if f.apps
                    else []
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
                *_band_fact(view, f.app, f.kind),
            ]
        ),
    ]
    if not full:
        parts.append(
            "<p class='note'>You are a viewer: accounts, devices, positions, event "
            "ids and timelines are left out.</p>"
        )
    key = (f.id, rec.status, rec.last_seen, full, events_offset, EVENTS_PER_PAGE)
    evidence, recorded = await drawn.get(key, lambda: _draw(view, rec, full, events_offset))
    parts.append(evidence)
    if full:
        parts.append(_audit(await view.findings.audit(f.id), tz))
        parts.append(_status_form(rec, user.csrf, message))
    parts.append(recorded)
    return "".join(parts)


async def finding_page(request: web.Request) -> web.Response:
    view, user = inspector_view(request), viewer(request)
    try:
        fid = check_id(request.match_info["id"])
        no_unknown(request.query, ("events_offset",))
        offset = integer(request.query, "events_offset", 0, 0, MAX_EVIDENCE_EVENTS)
    except BadRequest as err:
        return error_page(user, err)
    rec = await view.findings.get(fid)
    if rec is None:
        return error_page(user, BadRequest("no such finding", {"id": fid}, 404))
    body = await finding_body(view, rec, user, request.app[DRAWN_KEY], offset)
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
        body = await finding_body(view, rec, user, request.app[DRAWN_KEY], message=err.error)
        return layout("Decision not recorded", body, user, status=err.status)
    raise web.HTTPSeeOther(f"/findings/{fid}")
