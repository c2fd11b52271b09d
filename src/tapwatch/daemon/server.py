"""The daemon's HTTP server, composed of the exporters and the daemon's own routes.

  /metrics                  exporters/metrics.py renders after cycles, exporters/scrape.py
                            serves the last render (text or OpenMetrics, gzip as asked)
  /                         exporters/pages/home.py: where to go, collection at a glance
  /healthz, /readyz, /-/reload, /debug/apps[/{app}]   here
  /api/v1/...               exporters/findings_api/ (over DaemonInspector, daemon/views.py)
  /findings, /apps, ...     exporters/pages/
  /login, /logout           daemon/login.py
  every route               daemon/access.py decides who may reach it, knowing the client
                            behind trusted proxies (daemon/forwarded.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from tapwatch.daemon import login
from tapwatch.daemon.access import AUTH_KEY, access_guard
from tapwatch.daemon.forwarded import TrustedProxies, client_address_middleware
from tapwatch.daemon.views import DaemonInspector
from tapwatch.exporters import findings_api, pages
from tapwatch.exporters.pages.home import COLLECTOR_KEY, home_page
from tapwatch.exporters.scrape import metrics_handler
from tapwatch.exporters.web import INSPECTOR_KEY
from tapwatch.store.health import StoreError

if TYPE_CHECKING:
    from tapwatch.daemon.auth import Authenticator
    from tapwatch.daemon.runtime import Daemon

log = logging.getLogger("tapwatch.server")

DAEMON_KEY: web.AppKey[Daemon] = web.AppKey("daemon")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    d = request.app[DAEMON_KEY]
    if not d.ready:
        return web.Response(status=503, text="starting\n")
    store = d.store.health
    if store.error is not None:  # nothing polled can be kept: not ready, and why
        return web.Response(status=503, text=f"{store.error}\n")
    return web.Response(text="ready\n")


@web.middleware
async def store_unavailable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A request the store cannot serve now (it refuses writes, or reads while its files
    refuse writes): 503 and the reason, not a 500 and a traceback in the log."""
    try:
        return await handler(request)
    except StoreError as e:
        if request.path.startswith("/api/"):
            return web.json_response({"error": str(e)}, status=503)
        return web.Response(status=503, text=f"{e}\n")


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


def build_app(d: Daemon) -> web.Application:
    """The daemon's web app: its own routes, the exporters' over read-only views, and the
    access guard with the daemon's Authenticator."""
    app = web.Application(client_max_size=1 << 20)
    app[DAEMON_KEY] = d
    server = d.config.daemon.server
    if server.trusted_proxies:  # first: every later step sees the client, not the proxy
        proxies = TrustedProxies(tuple(server.trusted_proxies), server.client_address_header)
        app.middlewares.append(client_address_middleware(proxies))
    app.middlewares.append(store_unavailable)
    app[AUTH_KEY] = d.auth
    app[INSPECTOR_KEY] = DaemonInspector(d)
    app.middlewares.append(access_guard)
    app[COLLECTOR_KEY] = d
    app.router.add_get("/", home_page)
    app.router.add_get("/metrics", metrics_handler(lambda: d.metrics_page))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/-/reload", reload)
    app.router.add_get("/debug/apps", debug_apps)
    app.router.add_get("/debug/apps/{app}", debug_app)
    login.add_routes(app, server.external_url)
    findings_api.add_routes(app)
    pages.add_routes(app)
    app.on_response_prepare.append(_extra_headers)
    return app


class Listener:
    """The daemon's listening sockets, served by one aiohttp site per socket at a time.

    When the web config's TLS settings change (a rotated certificate or key, a new client
    CA, another client_auth_type or TLS version), new sites serve the same sockets (dup'd:
    the accept queue is shared, no connection is refused in between) with the new
    SSLContext, then the old sites stop accepting; connections already open finish with
    the settings they started with. A change between HTTP and HTTPS is refused at reload
    (tapwatch.daemon.webconfig.same_protocol)."""

    CHECK_INTERVAL_S = 1.0

    def __init__(self, runner: web.AppRunner, auth: Authenticator) -> None:
        self.runner = runner
        self.auth = auth
        self.port = 0
        self._sites: list[web.BaseSite] = []
        self._tls_source: object = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        w = self.auth.web_config()
        # a deep accept queue: a burst of inspectors following one alert link is not
        # dropped into SYN retries (the kernel caps it at net.core.somaxconn)
        site = web.TCPSite(
            self.runner, host, port, ssl_context=w.ssl_context if w else None, backlog=1024
        )
        await site.start()
        self._sites = [site]
        self._tls_source = w.tls_source if w else None
        sockets = self._sockets()
        self.port = sockets[0].getsockname()[1] if sockets else port
        if w is not None and w.ssl_context is not None:
            self._watch = asyncio.create_task(self._watch_tls(), name="watch-tls")

    def _sockets(self) -> list[socket.socket]:
        out = []
        for site in self._sites:
            server = site._server  # aiohttp keeps the asyncio server here
            out += list(server.sockets) if server is not None else []  # type: ignore[attr-defined]
        return out

    async def _watch_tls(self) -> None:
        while True:
            await asyncio.sleep(self.CHECK_INTERVAL_S)
            w = self.auth.web_config()  # re-read if the file or its TLS files changed
            if w is None or w.ssl_context is None or w.tls_source == self._tls_source:
                continue
            await self._serve(w.ssl_context)
            self._tls_source = w.tls_source
            log.info("serving the new TLS settings of %s", w.path)

    async def _serve(self, ctx: ssl.SSLContext) -> None:
        old = self._sites
        new = [web.SockSite(self.runner, s.dup(), ssl_context=ctx) for s in self._sockets()]
        for site in new:
            await site.start()
        self._sites = new
        for site in old:
            await site.stop()

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.runner.cleanup()


async def _extra_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The web config's `http_server_config.headers` on every answer."""
    w = request.app[DAEMON_KEY].auth.web_config()
    if w is not None:
        response.headers.update(w.headers)


async def start_server(d: Daemon, listen: str) -> Listener:
    """Serve on HOST:PORT (port 0: a free one), with TLS when the web config asks for it."""
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(build_app(d), access_log=None)
    await runner.setup()
    listener = Listener(runner, d.auth)
    try:
        await listener.start(host.strip("[]"), int(port))
    except BaseException:
        await runner.cleanup()
        raise
    return listener
