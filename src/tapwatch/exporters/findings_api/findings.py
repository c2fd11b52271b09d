"""The findings resource: the filtered, paged list, one finding with its evidence events,
and the CSV / JSON exports of every match."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from tapwatch.config import AppConfig
from tapwatch.events import Event, EventType
from tapwatch.exporters.findings_api.params import (
    check_id,
    encode_cursor,
    integer,
    no_unknown,
    parse_filters,
)
from tapwatch.exporters.redaction import redact_evidence, scrub_text
from tapwatch.exporters.view import InspectorView
from tapwatch.exporters.web import BadRequest, Viewer, api, inspector_view, json_ok, viewer
from tapwatch.store.findings import FindingRecord

MAX_EXPORT = 100_000
#: evidence events in one answer (page through the rest with events_offset)
MAX_EVENTS = 500

CSV_COLUMNS = (
    "id", "app", "app_name", "owner", "region", "kind", "severity", "score", "confidence",
    "status", "window_start", "window_end", "first_seen", "last_seen", "reasons", "summary",
)  # fmt: skip


def finding_json(
    rec: FindingRecord, apps: Mapping[str, AppConfig], user: Viewer, *, evidence: bool
) -> dict[str, Any]:
    """A finding as the API shows it to this user."""
    f = rec.finding
    reg = apps.get(f.app)
    removed: set[str] = set()
    ev: Any = f.evidence
    if not user.is_inspector:
        ev = redact_evidence(f.evidence, removed)
    out: dict[str, Any] = {
        "id": f.id,
        "kind": f.kind,
        "app": f.app,
        "apps": f.members(),
        "app_name": reg.name if reg else None,
        "owner": reg.owner if reg else None,
        "region": reg.region if reg else None,
        "severity": f.severity,
        "score": f.score,
        "confidence": f.confidence,
        "status": rec.status,
        "window_start": f.window_start,
        "window_end": f.window_end,
        "first_seen": rec.first_seen,
        "last_seen": rec.last_seen,
        "summary": scrub_text(f.summary, removed) if removed else f.summary,
        "reasons": [
            {
                "code": r.code,
                "text": scrub_text(r.text, removed) if removed else r.text,
                "value": r.value,
                "threshold": r.threshold,
                "rule": r.rule,
            }
            for r in f.reasons
        ],
        "links": {"self": f"/api/v1/findings/{f.id}", "page": f"/findings/{f.id}"},
    }
    if evidence:
        out["evidence"] = ev
        out["evidence_redacted"] = not user.is_inspector
    return out


def event_json(e: Event) -> dict[str, Any]:
    d = msgspec.structs.asdict(e)
    d["type"] = EventType(e.type).name
    return {k: v for k, v in d.items() if v is not None}


async def load_finding(view: InspectorView, fid: str) -> FindingRecord:
    """The finding with this id, or a 404 BadRequest."""
    rec = await view.findings.get(check_id(fid))
    if rec is None:
        raise BadRequest("no such finding", {"id": fid}, status=404)
    return rec


@api
async def list_findings(request: web.Request) -> web.StreamResponse:
    view = inspector_view(request)
    user = viewer(request)
    apps = view.registry()
    q = parse_filters(request.query, apps, view.timezone, paging=True)
    page = await view.findings.query(q)
    return json_ok(
        {
            "findings": [finding_json(r, apps, user, evidence=False) for r in page.records],
            "total": page.total,
            "limit": q.limit,
            "offset": q.offset,
            "next_cursor": encode_cursor(page.next_after) if page.next_after else None,
        }
    )


@api
async def one_finding(request: web.Request) -> web.StreamResponse:
    view = inspector_view(request)
    user = viewer(request)
    q = request.query
    no_unknown(q, ("events_offset", "events_limit"))
    offset = integer(q, "events_offset", 0, 0, 10**9)
    limit = integer(q, "events_limit", MAX_EVENTS, 1, MAX_EVENTS)
    rec = await load_finding(view, request.match_info["id"])
    body = finding_json(rec, view.registry(), user, evidence=True)
    if user.is_inspector:
        page = await view.findings.evidence(rec, offset, limit)
        body["events"] = [event_json(e) for e in page.events]
        body["events_source"] = page.source
        body["events_total"] = page.total
        body["events_offset"] = page.offset
    return json_ok(body)


async def _export_rows(
    request: web.Request,
) -> tuple[list[FindingRecord], Mapping[str, AppConfig]]:
    view = inspector_view(request)
    apps = view.registry()
    q = parse_filters(request.query, apps, view.timezone, paging=False)
    return await view.findings.export(q, MAX_EXPORT), apps


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _cell(v: object) -> object:
    """Spreadsheets run cells starting with = + - @ as formulas: quote those."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


@api
async def export_csv(request: web.Request) -> web.StreamResponse:
    user = viewer(request)
    rows, apps = await _export_rows(request)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        j = finding_json(r, apps, user, evidence=False)
        j["reasons"] = ";".join(x["code"] for x in j["reasons"])
        for k in ("window_start", "window_end", "first_seen", "last_seen"):
            j[k] = _iso(j[k])
        w.writerow([_cell(j[c]) for c in CSV_COLUMNS])
    return web.Response(
        text=buf.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="findings.csv"'},
    )


@api
async def export_json(request: web.Request) -> web.StreamResponse:
    user = viewer(request)
    rows, apps = await _export_rows(request)
    resp = json_ok(
        {
            "findings": [finding_json(r, apps, user, evidence=True) for r in rows],
            "total": len(rows),
        }
    )
    resp.headers["Content-Disposition"] = 'attachment; filename="findings.json"'
    return resp
