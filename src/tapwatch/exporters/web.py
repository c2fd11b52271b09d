"""What the findings API and the pages share on the HTTP side: who is asking, the view
they read, the 4xx answer shape and the security headers.

The daemon's access guard (daemon/access.py) checks logins and sets `VIEWER_KEY` on each
request; the handlers here only read it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from tapwatch.exporters.view import InspectorView

INSPECTOR_KEY: web.AppKey[InspectorView] = web.AppKey("inspector_view")

_enc = msgspec.json.Encoder()

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: a user of the users file and how they logged in."""

    name: str
    role: str  # "viewer" or "inspector"
    #: the login session's CSRF token; None for HTTP basic auth (no cookie, no CSRF risk)
    csrf: str | None = None

    @property
    def is_inspector(self) -> bool:
        return self.role == "inspector"


VIEWER_KEY: web.RequestKey[Viewer] = web.RequestKey("viewer", Viewer)


def viewer(request: web.Request) -> Viewer:
    """The logged-in user (the guard answers 401 or redirects before a handler runs)."""
    return request[VIEWER_KEY]


def inspector_view(request: web.Request) -> InspectorView:
    return request.app[INSPECTOR_KEY]


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a CSRF token with the session's."""
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def check_form_csrf(user: Viewer, form: Any) -> None:
    """A page form's CSRF token must be the login session's."""
    if user.csrf is None or not same_token(str(form.get("csrf", "")), user.csrf):
        raise BadRequest("the form's CSRF token is missing or wrong: reload the page", None, 403)


class BadRequest(Exception):
    """A request answered with a 4xx: `error` in words, `detail` as data."""

    def __init__(self, error: str, detail: Any = None, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail
        self.status = status


def json_error(status: int, error: str, detail: Any = None, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        body=_enc.encode({"error": error, "detail": detail}),
        content_type="application/json",
        headers=headers or None,
    )


def json_ok(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_enc.encode(body), content_type="application/json")


def require_inspector(request: web.Request) -> Viewer:
    user = viewer(request)
    if not user.is_inspector:
        raise BadRequest("this needs the inspector role", {"role": user.role}, status=403)
    return user


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def api(fn: Handler) -> Handler:
    """Turn BadRequest into the JSON error answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except BadRequest as e:
            return json_error(e.status, e.error, e.detail)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped
