"""Inspectors' decisions on a finding: the status change and its append-only audit log."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from tapwatch.exporters.findings_api.findings import load_finding
from tapwatch.exporters.findings_api.params import check_id
from tapwatch.exporters.view import InspectorView
from tapwatch.exporters.web import (
    BadRequest,
    Viewer,
    api,
    inspector_view,
    json_ok,
    require_inspector,
    same_token,
)
from tapwatch.store.findings import MAX_REASON, STATUSES, AuditEntry, FindingNotFound, StatusError

log = logging.getLogger("tapwatch.findings")


@api
async def change_status(request: web.Request) -> web.StreamResponse:
    view = inspector_view(request)
    user = require_inspector(request)
    fid = check_id(request.match_info["id"])
    # JSON only: a cross-site form cannot send it without a CORS preflight we never allow.
    if request.content_type != "application/json":
        raise BadRequest("send the body as application/json", None, status=415)
    if user.csrf is not None and not same_token(request.headers.get("X-CSRF-Token"), user.csrf):
        raise BadRequest("missing or wrong X-CSRF-Token for a session login", None, status=403)
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON", None) from None
    except RecursionError:  # a body nested thousands of levels deep
        raise BadRequest("the body is nested too deeply", None) from None
    to, reason = _status_body(body)
    entry, held = await apply_status(view, fid, to, user, reason)
    return json_ok({"id": fid, "status": to, "audit": audit_json(entry), "held_events": held})


def _status_body(body: Any) -> tuple[str, str | None]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", None)
    extra = sorted(set(body) - {"status", "reason"})
    if extra:
        raise BadRequest(f"unknown field {extra[0]!r}", {"allowed": ["status", "reason"]})
    to = body.get("status")
    if not isinstance(to, str) or to not in STATUSES:
        raise BadRequest("status must be one of " + ", ".join(STATUSES), {"field": "status"})
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadRequest("reason must be a string", {"field": "reason"})
    if reason is not None and len(reason) > MAX_REASON:
        raise BadRequest(f"reason is longer than {MAX_REASON} characters", {"field": "reason"})
    return to, reason


async def apply_status(
    view: InspectorView, fid: str, to: str, user: Viewer, reason: str | None
) -> tuple[AuditEntry, int]:
    """Record the decision (API and status form alike); 404/409/400 as BadRequest."""
    try:
        entry, held = await view.findings.set_status(fid, to, user.name, reason, view.clock())
    except FindingNotFound:
        raise BadRequest("no such finding", {"id": fid}, status=404) from None
    except StatusError as e:
        raise BadRequest(str(e), {"status": to}, status=409 if e.conflict else 400) from None
    log.info(
        "finding %s: %s -> %s by %s (%d events held)", fid, entry.from_status, to, user.name, held
    )
    return entry, held


def audit_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "from": e.from_status,
        "to": e.to_status,
        "reason": e.reason,
    }


@api
async def finding_audit(request: web.Request) -> web.StreamResponse:
    view = inspector_view(request)
    require_inspector(request)
    rec = await load_finding(view, request.match_info["id"])
    entries = await view.findings.audit(rec.finding.id)
    return json_ok({"id": rec.finding.id, "audit": [audit_json(e) for e in entries]})
