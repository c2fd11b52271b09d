"""The login form and logout: people's sessions for the inspector pages.

  GET  /login?next=PATH   the form (open)
  POST /login             check the password, start a session, go to `next`
  POST /logout            end the session (the form's CSRF token)

Drawn in the pages' frame (exporters/pages/layout.py); the sessions are the
Authenticator's (daemon/auth.py).
"""

from __future__ import annotations

from aiohttp import web

from tapwatch.daemon.access import AUTH_KEY, SESSION_KEY, client_addr
from tapwatch.daemon.auth import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_MAX_AGE_S,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    safe_next,
    same_origin,
)
from tapwatch.exporters.pages.layout import e, error_page, layout
from tapwatch.exporters.web import BadRequest, check_form_csrf, viewer


def _login_form(next_url: str, token: str, message: str = "") -> str:
    msg = f"<p class='error'>{e(message)}</p>" if message else ""
    return (
        "<div class='login'><h1>Log in</h1>"
        f"{msg}<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{e(next_url)}'>"
        f"<input type='hidden' name='csrf' value='{e(token)}'>"
        "<label>User name <input name='username' autocomplete='username' required></label>"
        "<label>Password <input name='password' type='password' "
        "autocomplete='current-password' required></label>"
        "<button type='submit'>Log in</button></form></div>"
    )


def _login_response(
    request: web.Request, next_url: str, message: str = "", status: int = 200
) -> web.Response:
    """The login form with a fresh CSRF nonce: in a cookie, and signed in the form."""
    auth = request.app[AUTH_KEY]
    nonce, token = auth.login_nonce()
    resp = layout("Log in", _login_form(next_url, token, message), None, status=status)
    resp.set_cookie(
        LOGIN_COOKIE, nonce, httponly=True, samesite="Strict", secure=request.secure,
        path="/login",
    )
    return resp


async def login_page(request: web.Request) -> web.Response:
    auth = request.app[AUTH_KEY]
    note = "" if auth.users is not None else "No users file is configured: nobody can log in."
    return _login_response(request, safe_next(request.query.get("next")), note)


async def login_submit(request: web.Request) -> web.Response:
    auth = request.app[AUTH_KEY]
    form = await request.post()
    next_url = safe_next(str(form.get("next", "")))
    origin_ok = same_origin(
        request.headers.get("Origin"),
        request.headers.get("Referer"),
        request.host,
        request.app[EXTERNAL_URL_KEY],
    )
    if not origin_ok or not auth.login_token_ok(
        request.cookies.get(LOGIN_COOKIE), str(form.get("csrf", ""))
    ):
        return _login_response(
            request, next_url, "The login form expired or came from another site: try again.",
            403,
        )
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    v, user = await auth.check_user(
        name, password, client_addr(request), request.cookies.get(DEVICE_COOKIE)
    )
    if v.busy:
        wait = max(1, int(v.retry_after + 0.999))
        resp = _login_response(
            request, next_url, f"Too many login attempts: try again in {wait} s.", 429
        )
        resp.headers["Retry-After"] = str(wait)
        return resp
    if user is None:
        return _login_response(request, next_url, "Wrong user name or password.", 401)
    session = auth.new_session(user)
    resp = web.HTTPSeeOther(next_url)
    cookie = {"httponly": True, "samesite": "Strict", "secure": request.secure, "path": "/"}
    resp.set_cookie(SESSION_COOKIE, session.token, **cookie)
    resp.set_cookie(
        DEVICE_COOKIE, auth.device_cookie(user), max_age=DEVICE_COOKIE_MAX_AGE_S, **cookie
    )
    resp.del_cookie(LOGIN_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.Response:
    user = viewer(request)
    form = await request.post()
    try:
        check_form_csrf(user, form)
    except BadRequest as err:
        return error_page(user, err)
    s = request.get(SESSION_KEY)
    if s is not None:
        request.app[AUTH_KEY].end_session(s.token)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


#: the daemon's `server.external_url` (None: the Host header is the origin)
EXTERNAL_URL_KEY: web.AppKey[str | None] = web.AppKey("external_url")


def add_routes(app: web.Application, external_url: str | None) -> None:
    """The login form and logout; `external_url` is where browsers reach the daemon (the
    origin a login form must come from when behind a proxy)."""
    app[EXTERNAL_URL_KEY] = external_url
    r = app.router
    r.add_get("/login", login_page)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
