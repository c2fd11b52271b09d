"""Who may reach which route: the access guard of the daemon's HTTP server.

* the findings API and the inspector pages need a login from the users file: HTTP basic
  auth (scripts) or the login form's session cookie (people); the guard puts the user on
  the request as an exporters `Viewer` (name, role, the session's CSRF token);
* the login form and the stylesheet are open;
* everything else (/metrics, health, reload, debug, /) is guarded by the web config's
  basic auth when it has `basic_auth_users`, and open otherwise, as an exporter's is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from tapwatch.daemon.auth import (
    FINDINGS_REALM,
    METRICS_REALM,
    SESSION_COOKIE,
    Authenticator,
    Session,
    User,
    parse_basic,
)
from tapwatch.daemon.passwords import Verdict
from tapwatch.exporters.web import SECURITY_HEADERS, VIEWER_KEY, Viewer, json_error

AUTH_KEY: web.AppKey[Authenticator] = web.AppKey("authenticator")
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("session", Session)


def route_kind(path: str) -> str:
    """'api', 'page' (need a users-file login), 'open' (login form, stylesheet) or
    'other' (metrics, health, debug: guarded by the web config's basic auth, if any)."""
    if path == "/api/v1" or path.startswith("/api/v1/"):
        return "api"
    if path in ("/findings", "/apps", "/logout") or path.startswith("/findings/"):
        return "page"
    if path == "/login" or path.startswith("/static/"):
        return "open"
    return "other"


def client_addr(request: web.Request) -> str:
    """The client's address, as the password checker counts it: the peer's, or behind a
    proxy in `server.trusted_proxies` the one it names (daemon/forwarded.py rewrote
    `remote` before this guard ran)."""
    return request.remote or "unknown"


def _www_auth(realm: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'}


def _retry_after(v: Verdict) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(v.retry_after + 0.999)))}


@web.middleware
async def access_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Logins for the findings API and pages; the web config's basic auth elsewhere."""
    auth = request.app[AUTH_KEY]
    kind = route_kind(request.path)
    addr = client_addr(request)
    if kind == "other":
        if auth.metrics_protected:
            header = request.headers.get("Authorization")
            creds = parse_basic(header)
            if creds is None:
                if header:
                    auth.count_malformed(METRICS_REALM)
                return web.Response(
                    status=401, text="unauthorised\n", headers=_www_auth("tapwatch")
                )
            v = await auth.check_metrics(*creds, addr)
            if v.busy:
                return web.Response(
                    status=429, text="too many login attempts\n", headers=_retry_after(v)
                )
            if not v.ok:
                return web.Response(
                    status=401, text="unauthorised\n", headers=_www_auth("tapwatch")
                )
        return await handler(request)
    if kind == "open":
        resp = await handler(request)
        resp.headers.update(SECURITY_HEADERS)
        return resp

    user: User | None = None
    session: Session | None = None
    header = request.headers.get("Authorization")
    if header:
        creds = parse_basic(header)
        if creds is None:
            auth.count_malformed(FINDINGS_REALM)
        else:
            v, user = await auth.check_user(*creds, addr)
            if v.busy:
                detail = {"retry_after_s": int(v.retry_after + 0.999)}
                return json_error(429, "too many login attempts", detail, **_retry_after(v))
        if user is None:
            return json_error(
                401, "wrong user name or password", None, **_www_auth("tapwatch findings")
            )
    else:
        found = auth.session(request.cookies.get(SESSION_COOKIE))
        if found is not None:
            session, user = found
            request[SESSION_KEY] = session
    if user is None:
        if kind == "api":
            return json_error(
                401,
                "login required",
                "use HTTP basic auth or log in at /login",
                **_www_auth("tapwatch findings"),
            )
        target = request.path_qs if request.method == "GET" else "/findings"
        raise web.HTTPSeeOther(f"/login?next={quote(target, safe='')}")
    request[VIEWER_KEY] = Viewer(user.name, user.role, session.csrf if session else None)
    try:
        resp = await handler(request)
    except web.HTTPException as e:
        if kind != "api" or e.status < 400:
            raise
        # Unknown routes and methods under /api/v1 answer JSON like every other error.
        resp = json_error(e.status, e.reason, None)
        if "Allow" in e.headers:
            resp.headers["Allow"] = e.headers["Allow"]
    resp.headers.update(SECURITY_HEADERS)
    return resp
