"""Findings API v1 (docs/openapi/findings-api-v1.yaml), one module per resource.

Routes (all need a login from the users file; the daemon's access guard checks it):
  GET  /api/v1/findings              filters + paging                  findings.py
  GET  /api/v1/findings.csv|.json    the same filters, every match      findings.py
  GET  /api/v1/findings/{id}         one finding with its evidence      findings.py
  POST /api/v1/findings/{id}/status  {"status": ..., "reason": ...}     status.py (inspector)
  GET  /api/v1/findings/{id}/audit                                      status.py (inspector)
  GET  /api/v1/apps                  the shutdown assessment of apps    apps.py

A `viewer` gets findings without personal evidence (exporters/redaction.py). Every
malformed request is answered with a 4xx and `{"error": "...", "detail": ...}`.
"""

from __future__ import annotations

from aiohttp import web

from tapwatch.exporters.findings_api import apps, findings, status
from tapwatch.exporters.web import json_ok, viewer


async def api_root(request: web.Request) -> web.StreamResponse:
    user = viewer(request)
    return json_ok(
        {"user": user.name, "role": user.role, "links": ["/api/v1/findings", "/api/v1/apps"]}
    )


def add_routes(app: web.Application) -> None:
    """The API's routes (the app must hold INSPECTOR_KEY and the access guard)."""
    r = app.router
    r.add_get("/api/v1", api_root)
    r.add_get("/api/v1/findings", findings.list_findings)
    r.add_get("/api/v1/findings.csv", findings.export_csv)
    r.add_get("/api/v1/findings.json", findings.export_json)
    r.add_get("/api/v1/findings/{id}", findings.one_finding)
    r.add_post("/api/v1/findings/{id}/status", status.change_status)
    r.add_get("/api/v1/findings/{id}/audit", status.finding_audit)
    r.add_get("/api/v1/apps", apps.list_apps)
