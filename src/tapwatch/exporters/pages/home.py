"""GET /: where to go from here, and whether each app is being collected.

Not an inspector page: it shows no finding, so it is guarded like /metrics (the web
config's basic auth, if any), and links to the pages that need a login.
"""

from __future__ import annotations

from aiohttp import web

from tapwatch.exporters.pages.layout import e, fmt_time, layout, table
from tapwatch.exporters.view import CollectorView

COLLECTOR_KEY: web.AppKey[CollectorView] = web.AppKey("collector_view")


async def home_page(request: web.Request) -> web.Response:
    d = request.app[COLLECTOR_KEY]
    now = d.clock()
    rows = []
    for app in d.my_apps():
        st = d.states.get(app.id)
        if st is None:
            continue
        up = "-" if st.up is None else ("up" if st.up else "DOWN")
        rows.append(
            (
                f"<a href='/debug/apps/{e(app.id)}'>{e(app.id)}</a>",
                e(app.name),
                e(up),
                e(fmt_time(st.last_success, d.timezone)),
                e("stale" if st.stale(now) else "fresh"),
            )
        )
    body = (
        "<h1>tapwatch</h1>"
        "<p>Watches the fleet of government work apps for empty shells and forced usage.</p>"
        "<ul>"
        "<li><a href='/apps'>Apps</a>: the fleet by assessment band, shutdown candidates "
        "first (login)</li>"
        "<li><a href='/findings'>Findings</a>: what the detectors found, with the evidence "
        "(login)</li>"
        "<li><a href='/metrics'>Metrics</a> for Prometheus</li>"
        "<li><a href='/debug/apps'>Collector state</a> (JSON)</li>"
        "</ul>"
        f"<h2>Collection ({len(rows)} apps in shard {d.shard + 1} of {d.total_shards})</h2>"
        + table(("App", "Name", "Last poll", "Last success", "Data"), rows)
    )
    return layout("tapwatch", body, None)
