"""The pages' frame and the small HTML pieces every page uses.

Everything from data goes through `e()` (html.escape); table cells and fact values are HTML
already escaped by the caller. Pseudonyms are shown by their first 8 hex characters
(stable: the same account always reads the same), the whole one in a tooltip.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from tapwatch.exporters.web import BadRequest, Viewer

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;
align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
header .who{margin-left:auto;font-size:.9em}
header form{display:inline;margin:0}
header button{background:none;border:1px solid #9bb;color:#fff;border-radius:3px;
cursor:pointer}
main{padding:1em 1.5em;max-width:1100px}
h1{font-size:1.35em;margin:.3em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .5em}
table{border-collapse:collapse;background:#fff;margin:.4em 0 1em}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.nowrap{white-space:nowrap}
td ul{margin:0;padding-left:1.1em}
.mono,code{font-family:ui-monospace,monospace;font-size:.92em}
.sev-critical{color:#a00;font-weight:600}.sev-warning{color:#b35c00;font-weight:600}
.status{padding:.05em .45em;border-radius:3px;background:#e8e8e8}
.status-confirmed{background:#fde2e2}.status-dismissed{background:#e6e6e6;color:#555}
.status-open{background:#fff3cd}.status-resolved{background:#dff0d8}
form.filters{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:end;background:#fff;
padding:.7em;border:1px solid #ddd}
form.filters label{display:flex;flex-direction:column;font-size:.85em;color:#444}
.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;background:#fff;
padding:.7em;border:1px solid #ddd;margin-bottom:1em}
.facts dt{color:#555}.facts dd{margin:0}
.note{background:#eef4fa;border-left:4px solid #1f3b57;padding:.5em .8em}
.muted{color:#666;font-style:italic}.pager a{margin-right:.3em}
.error{background:#fde2e2;border-left:4px solid #a00;padding:.5em .8em}
svg.plot{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
pre{background:#fff;border:1px solid #ddd;padding:.7em;overflow:auto;max-height:30em}
.login{max-width:22em;margin:4em auto;background:#fff;border:1px solid #ddd;padding:1.5em}
.login label{display:block;margin:.6em 0}.login input{width:100%;box-sizing:border-box}
textarea{width:100%;max-width:40em;box-sizing:border-box}
""".strip()


def e(v: object) -> str:
    """Text for HTML (element content or a quoted attribute value)."""
    return html.escape("" if v is None else str(v), quote=True)


def short(p: object) -> str:
    """A pseudonym's stable short form (its first 8 hex characters)."""
    s = "" if p is None else str(p)
    return s[:8]


def pseudo(p: object) -> str:
    """A pseudonym shown short, the whole one in a tooltip."""
    return f"<span class='mono' title='{e(p)}'>{e(short(p))}</span>"


def fmt_time(ts: float | None, tz: ZoneInfo) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S %z")


def fmt_num(v: object, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return e(v)


def app_links(apps: Iterable[object]) -> str:
    """Each app as a link to its findings."""
    return ", ".join(
        f"<a href='/findings?{e(urlencode({'app': str(a)}))}'>{e(a)}</a>" for a in apps
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table; `rows` cells are HTML already escaped by the caller."""
    head = "".join(f"<th scope='col'>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table class='{e(cls)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(c: str) -> str:
    return c if c.startswith("<td") else f"<td>{c}</td>"


def num_cell(v: object, digits: int = 3) -> str:
    return f"<td class='num'>{fmt_num(v, digits)}</td>"


def facts(items: Sequence[tuple[str, str]]) -> str:
    """A definition list; values are HTML already escaped by the caller."""
    return (
        "<dl class='facts'>" + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    )


def status_badge(status: str) -> str:
    return f"<span class='status status-{e(status)}'>{e(status)}</span>"


def severity(sev: str) -> str:
    return f"<span class='sev-{e(sev)}'>{e(sev)}</span>"


def select(
    name: str, options: Sequence[tuple[str, str]], chosen: str, any_option: bool = True
) -> str:
    choices = [("", "any"), *options] if any_option else list(options)
    opts = "".join(
        f"<option value='{e(v)}'{' selected' if v == chosen else ''}>{e(label)}</option>"
        for v, label in choices
    )
    return f"<select name='{e(name)}'>{opts}</select>"


def layout(title: str, body: str, user: Viewer | None, status: int = 200) -> web.Response:
    """The page: header with the navigation and who is logged in, then `body`."""
    who = ""
    if user is not None:
        logout = ""
        if user.csrf:
            logout = (
                "<form method='post' action='/logout'>"
                f"<input type='hidden' name='csrf' value='{e(user.csrf)}'>"
                "<button type='submit'>Log out</button></form>"
            )
        who = f"<span class='who'>{e(user.name)} ({e(user.role)}) {logout}</span>"
    nav = "<a href='/findings'>Findings</a><a href='/apps'>Apps</a>" if user is not None else ""
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} · tapwatch</title>"
        "<link rel='stylesheet' href='/static/tapwatch.css'></head><body>"
        f"<header><a href='/'>tapwatch</a>{nav}{who}</header><main>{body}</main></body></html>"
    )
    return web.Response(text=page, content_type="text/html", status=status)


def error_page(user: Viewer | None, err: BadRequest) -> web.Response:
    body = f"<h1>{e(err.error)}</h1><p class='error'>{e(err.error)}</p>"
    if err.detail:
        body += f"<pre>{e(json.dumps(err.detail, indent=1, default=str))}</pre>"
    return layout("Error", body, user, status=err.status)


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        text=CSS, content_type="text/css", headers={"Cache-Control": "max-age=3600"}
    )
