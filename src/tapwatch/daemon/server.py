"""The daemon's HTTP server: /metrics, health, reload and the collector debug view.

/metrics serves the bytes rendered after the last cycle: a scrape costs a memory copy,
never a recomputation, whatever the fleet size.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from aiohttp import web

from tapwatch.exporters.exposition import CONTENT_TYPE
from tapwatch.exporters.findings_api import register_inspector

if TYPE_CHECKING:
    from tapwatch.daemon.runtime import Daemon

DAEMON_KEY: web.AppKey[Daemon] = web.AppKey("daemon")


async def metrics(request: web.Request) -> web.Response:
    d = request.app[DAEMON_KEY]
    return web.Response(body=d.metrics_body, headers={"Content-Type": CONTENT_TYPE})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    d = request.app[DAEMON_KEY]
    if not d.ready:
        return web.Response(status=503, text="starting\n")
    return web.Response(text="ready\n")


async def reload(request: web.Request) -> web.Response:
    d = request.app[DAEMON_KEY]
    ok, errors = await d.reload()
    if ok:
        return web.json_response({"status": "success"})
    # as Prometheus does: 500 and the reasons; the last good config stays in use
    return web.json_response({"status": "error", "errors": errors}, status=500)


def _state_json(d: Daemon, app_id: str) -> dict[str, object]:
    st = d.states[app_id]
    return {
        "app": app_id,
        "up": st.up,
        "interval_s": st.interval,
        "last_success": st.last_success,
        "last_attempt": st.last_attempt,
        "consecutive_failures": st.consecutive_failures,
        "stale": st.stale(d.clock()),
        "errors": dict(st.errors),
        "events_ingested": sum(st.ingested.values()),
        "events_rejected": dict(st.rejected),
        "records_skipped": dict(st.skipped),
    }


async def debug_apps(request: web.Request) -> web.Response:
    d = request.app[DAEMON_KEY]
    return web.json_response({"apps": [_state_json(d, a) for a in sorted(d.states)]})


async def debug_app(request: web.Request) -> web.Response:
    """blackbox_exporter-style debug view: one app's state and its last attempts."""
    d = request.app[DAEMON_KEY]
    app_id = request.match_info["app"]
    if app_id not in d.states:
        return web.json_response({"error": f"unknown app {app_id!r}"}, status=404)
    body = _state_json(d, app_id)
    body["attempts"] = [
        {
            "started_at": a.started_at,
            "duration_s": round(a.duration_s, 6),
            "ok": a.ok,
            "reason": a.reason,
            "detail": a.detail,
            "events_ingested": a.events_ingested,
            "events_rejected": a.events_rejected,
            "duplicates": a.duplicates,
        }
        for a in reversed(d.states[app_id].history)
    ]
    return web.json_response(body)


async def index(request: web.Request) -> web.Response:
    d = request.app[DAEMON_KEY]
    rows = "".join(
        f"<tr><td><a href='/debug/apps/{html.escape(a)}'>{html.escape(a)}</a></td>"
        f"<td>{'-' if s.up is None else s.up}</td></tr>"
        for a, s in sorted(d.states.items())
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tapwatch</title></head>"
        "<body><h1>tapwatch</h1><p><a href='/metrics'>Metrics</a> · "
        "<a href='/findings'>Findings</a> · <a href='/debug/apps'>Collector state</a></p>"
        f"<table><tr><th>app</th><th>up</th></tr>{rows}</table></body></html>"
    )
    return web.Response(text=page, content_type="text/html")


def build_app(d: Daemon) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app[DAEMON_KEY] = d
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/-/reload", reload)
    app.router.add_get("/debug/apps", debug_apps)
    app.router.add_get("/debug/apps/{app}", debug_app)
    register_inspector(app, d)
    return app


async def start_server(d: Daemon, listen: str) -> tuple[web.AppRunner, int]:
    """Serve on HOST:PORT (port 0: a free one), with TLS when the web config asks for it."""
    from tapwatch.daemon.auth import server_ssl_context

    host, _, port = listen.rpartition(":")
    tls = server_ssl_context(d.config.daemon.server.web_config_file)
    runner = web.AppRunner(build_app(d), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=tls)
    await site.start()
    server = site._server
    bound = server.sockets[0].getsockname()[1] if server and server.sockets else int(port)
    return runner, bound
