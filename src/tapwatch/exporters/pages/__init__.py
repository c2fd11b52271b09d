"""Inspector pages: server-rendered HTML, no script, one stylesheet served by the daemon.

  GET  /findings?app=APP&kind=KIND&...   findings_list.py (alert links land here)
  GET  /findings/{id}                    finding.py, with the kind's section from evidence/
  POST /findings/{id}/status             finding.py: status form (inspector, CSRF token)
  GET  /apps                             apps.py: the fleet by band, candidates first
  GET  /static/tapwatch.css              layout.py

The login form is the daemon's (daemon/login.py): these pages only see who is asking.
A viewer sees no accounts, devices, positions, event ids or timelines: the same redaction
as the API.
"""

from __future__ import annotations

from aiohttp import web

from tapwatch.exporters.cache import RecentResults
from tapwatch.exporters.pages import apps, finding, findings_list, layout


def add_routes(app: web.Application) -> None:
    """The pages' routes (the app must hold INSPECTOR_KEY and the access guard)."""
    app[finding.DRAWN_KEY] = RecentResults()
    r = app.router
    r.add_get("/static/tapwatch.css", layout.stylesheet)
    r.add_get("/findings", findings_list.findings_page)
    r.add_get("/findings/{id}", finding.finding_page)
    r.add_post("/findings/{id}/status", finding.status_submit)
    r.add_get("/apps", apps.apps_page)
