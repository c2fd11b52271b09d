"""The apps resource: every app of this shard with its latest shutdown assessment."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from tapwatch.detectors.assessment import BANDS, assessment_finding
from tapwatch.exporters.findings_api.params import enum, no_unknown
from tapwatch.exporters.view import InspectorView
from tapwatch.exporters.web import api, inspector_view, json_ok


def assessments_json(view: InspectorView) -> list[dict[str, Any]]:
    """Every app of this daemon's shard with its latest assessment (band None before the
    first detector pass), highest score first."""
    assessments = view.assessments()
    out = []
    for app in view.my_apps():
        a = assessments.get(app.id)
        row: dict[str, Any] = {
            "app": app.id,
            "name": app.name,
            "owner": app.owner,
            "region": app.region,
            "category": app.category,
            "band": None,
            "score": None,
            "confidence": None,
            "basis": None,
            "reasons": [],
            "signals": {},
            "window_start": None,
            "window_end": None,
            "finding_id": None,
        }
        if a is not None:
            f = assessment_finding(a, view.assessed_at or view.clock())
            row.update(
                band=a.band,
                score=a.score,
                confidence=a.confidence,
                basis=a.basis,
                reasons=[msgspec.structs.asdict(r) for r in a.reasons],
                signals={k: msgspec.structs.asdict(s) for k, s in a.signals.items()},
                window_start=a.window_start,
                window_end=a.window_end,
                finding_id=f.id if f else None,
            )
        out.append(row)
    out.sort(key=lambda r: (-(r["score"] if r["score"] is not None else -1), r["app"]))
    return out


@api
async def list_apps(request: web.Request) -> web.StreamResponse:
    view = inspector_view(request)
    no_unknown(request.query, ("band",))
    bands = enum(request.query, "band", BANDS)
    rows = assessments_json(view)
    if bands:
        rows = [r for r in rows if r["band"] in bands]
    return json_ok({"apps": rows, "assessed_at": view.assessed_at})
