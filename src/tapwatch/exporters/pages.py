"""Inspector pages: server-rendered HTML, no script, one stylesheet served by the daemon.

  GET  /login, POST /login, POST /logout
  GET  /findings?app=APP&kind=KIND&...   (alert links land here: keep these URLs)
  GET  /findings/{id}                    the evidence as a person reads it
  POST /findings/{id}/status             status form (inspector, per-session CSRF token)
  GET  /apps                             the fleet by band, shutdown candidates first
  GET  /static/tapwatch.css

Everything from data goes through html.escape. Pseudonyms are shown by their first 8 hex
characters (stable: the same account always reads the same). A viewer sees no accounts,
devices, positions, event ids or timelines: the same redaction as the API.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDict

from tapwatch.daemon.auth import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_MAX_AGE_S,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    User,
    safe_next,
    same_origin,
    same_token,
)
from tapwatch.detectors.assessment import BANDS, day_date
from tapwatch.detectors.base import SEVERITIES
from tapwatch.events import EventType
from tapwatch.exporters import svg
from tapwatch.exporters.findings_api import (
    AUTH_KEY,
    INSPECTOR_DAEMON_KEY,
    KINDS,
    BadRequest,
    apply_status,
    assessments_json,
    check_id,
    client_addr,
    current_session,
    current_user,
    encode_cursor,
    local_tz,
    parse_filters,
    redact_evidence,
    registry,
    scrub_text,
)
from tapwatch.store.findings import (
    STATUSES,
    FindingRecord,
    app_daily_activity,
    audit_log,
    evidence_events,
    get_finding,
    known_values,
    query_findings,
)
from tapwatch.window import local_day_of

if TYPE_CHECKING:
    from tapwatch.daemon.runtime import Daemon

_HEX16 = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{8}\b")
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
.error{background:#fde2e2;border-left:4px solid #a00;padding:.5em .8em}
svg.plot{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
pre{background:#fff;border:1px solid #ddd;padding:.7em;overflow:auto;max-height:30em}
.login{max-width:22em;margin:4em auto;background:#fff;border:1px solid #ddd;padding:1.5em}
.login label{display:block;margin:.6em 0}.login input{width:100%;box-sizing:border-box}
textarea{width:100%;max-width:40em;box-sizing:border-box}
""".strip()


def e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def short(p: object) -> str:
    """A pseudonym's stable short form (its first 8 hex characters)."""
    s = "" if p is None else str(p)
    return s[:8]


def _pseudo(p: object) -> str:
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


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table; `rows` cells are HTML already escaped by the caller."""
    head = "".join(f"<th scope='col'>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(rows_cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table class='{e(cls)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def rows_cell(c: str) -> str:
    return c if c.startswith("<td") else f"<td>{c}</td>"


def num_cell(v: object, digits: int = 3) -> str:
    return f"<td class='num'>{fmt_num(v, digits)}</td>"


def layout(
    title: str, body: str, user: User | None, csrf: str | None, status: int = 200
) -> web.Response:
    who = ""
    if user is not None:
        logout = ""
        if csrf:
            logout = (
                "<form method='post' action='/logout'>"
                f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
                "<button type='submit'>Log out</button></form>"
            )
        who = f"<span class='who'>{e(user.name)} ({e(user.role)}) {logout}</span>"
    nav = "<a href='/findings'>Findings</a><a href='/apps'>Apps</a>" if user is not None else ""
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} · tapwatch</title>"
        "<link rel='stylesheet' href='/static/tapwatch.css'></head><body>"
        f"<header><span>tapwatch</span>{nav}{who}</header><main>{body}</main></body></html>"
    )
    return web.Response(text=page, content_type="text/html", status=status)


def _ctx(request: web.Request) -> tuple[Daemon, User, str | None]:
    s = current_session(request)
    return request.app[INSPECTOR_DAEMON_KEY], current_user(request), s.csrf if s else None


def error_page(request: web.Request, err: BadRequest) -> web.Response:
    _, user, csrf = _ctx(request)
    body = f"<h1>{e(err.error)}</h1><p class='error'>{e(err.error)}</p>"
    if err.detail:
        body += f"<pre>{e(json.dumps(err.detail, indent=1, default=str))}</pre>"
    return layout("Error", body, user, csrf, status=err.status)


# ---- login ----------------------------------------------------------------------------


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
    resp = layout("Log in", _login_form(next_url, token, message), None, None, status=status)
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
        request.app[INSPECTOR_DAEMON_KEY].config.daemon.server.external_url,
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


def check_csrf(request: web.Request, form: Any) -> None:
    s = current_session(request)
    if s is None or not same_token(str(form.get("csrf", "")), s.csrf):
        raise BadRequest("the form's CSRF token is missing or wrong: reload the page", None, 403)


async def logout(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        check_csrf(request, form)
    except BadRequest as err:
        return error_page(request, err)
    s = current_session(request)
    if s is not None:
        request.app[AUTH_KEY].end_session(s.token)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        text=CSS, content_type="text/css", headers={"Cache-Control": "max-age=3600"}
    )


# ---- findings list --------------------------------------------------------------------


def _select(
    name: str, options: Sequence[tuple[str, str]], chosen: str, any_option: bool = True
) -> str:
    choices = [("", "any"), *options] if any_option else list(options)
    opts = "".join(
        f"<option value='{e(v)}'{' selected' if v == chosen else ''}>{e(label)}</option>"
        for v, label in choices
    )
    return f"<select name='{e(name)}'>{opts}</select>"


def _status_badge(status: str) -> str:
    return f"<span class='status status-{e(status)}'>{e(status)}</span>"


async def findings_page(request: web.Request) -> web.Response:
    d, user, csrf = _ctx(request)
    apps = registry(d)
    tz = local_tz(d)
    # The filter form sends every field; an empty one means "any".
    q = MultiDict((k, v) for k, v in request.query.items() if v.strip())
    try:
        fq = parse_filters(q, apps, tz, paging=True)
    except BadRequest as err:
        return error_page(request, err)
    page = await d.store.read(query_findings, d.store.reader, fq)
    seen_apps = await d.store.read(known_values, d.store.reader, "app")
    app_ids = sorted(set(apps) | set(seen_apps))
    owners = sorted({a.owner for a in apps.values()})
    regions = sorted({a.region for a in apps.values()})
    fields = ("app", "kind", "severity", "status", "owner", "region", "since", "until")
    g = {k: q.get(k, "") for k in (*fields, "time_field")}
    form = (
        "<form class='filters' method='get' action='/findings'>"
        f"<label>App {_select('app', [(a, a) for a in app_ids], g['app'])}</label>"
        f"<label>Kind {_select('kind', [(k, k) for k in KINDS], g['kind'])}</label>"
        f"<label>Severity {_select('severity', [(s, s) for s in SEVERITIES], g['severity'])}"
        "</label>"
        f"<label>Status {_select('status', [(s, s) for s in STATUSES], g['status'])}</label>"
        f"<label>Owner {_select('owner', [(o, o) for o in owners], g['owner'])}</label>"
        f"<label>Region {_select('region', [(r, r) for r in regions], g['region'])}</label>"
        f"<label>Since <input type='date' name='since' value='{e(g['since'])}'></label>"
        f"<label>Until <input type='date' name='until' value='{e(g['until'])}'></label>"
        "<label>Dates apply to "
        + _select(
            "time_field",
            [("window", "the finding's window"), ("first_seen", "when first seen")],
            g["time_field"],
            any_option=False,
        )
        + "</label><button type='submit'>Filter</button></form>"
    )
    rows = []
    for r in page.records:
        f = r.finding
        summary = f.summary
        if not user.is_inspector:
            removed: set[str] = set()
            redact_evidence(f.evidence, removed)
            summary = scrub_text(summary, removed)
        rows.append(
            (
                f"<td class='nowrap'>{e(fmt_time(r.first_seen, tz))}</td>",
                f"<a href='/findings?{e(urlencode({'app': f.app}))}'>{e(f.app)}</a>",
                e(f.kind),
                f"<span class='sev-{e(f.severity)}'>{e(f.severity)}</span>",
                num_cell(f.score, 2),
                _status_badge(r.status),
                f"<a href='/findings/{e(f.id)}'>{e(summary)}</a>",
            )
        )
    listing = (
        table(("First seen", "App", "Kind", "Severity", "Score", "Status", "Summary"), rows)
        if rows
        else "<p class='note'>No findings match these filters.</p>"
    )
    base = {k: v for k, v in q.items() if k not in ("cursor", "offset")}
    nav = []
    if fq.after is not None or fq.offset:
        nav.append(f"<a href='/findings?{e(urlencode(base))}'>First page</a>")
    if page.next_after is not None:
        nxt = urlencode([*base.items(), ("cursor", encode_cursor(page.next_after))])
        nav.append(f"<a href='/findings?{e(nxt)}' rel='next'>Next page</a>")
    export_q = urlencode([(k, v) for k, v in q.items() if k not in ("cursor", "offset", "limit")])
    exports = (
        f"<p>Export these: <a href='/api/v1/findings.csv?{e(export_q)}'>CSV</a> · "
        f"<a href='/api/v1/findings.json?{e(export_q)}'>JSON</a></p>"
    )
    body = (
        f"<h1>Findings</h1>{form}<p>{page.total} matching, newest first.</p>{listing}"
        f"<p>{' · '.join(nav)}</p>{exports}"
    )
    return layout("Findings", body, user, csrf)


# ---- one finding ----------------------------------------------------------------------


def _facts(items: Sequence[tuple[str, str]]) -> str:
    return (
        "<dl class='facts'>" + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    )


def _reasons(rec: FindingRecord, removed: set[str]) -> str:
    rows = [
        (
            f"<code>{e(r.code)}</code>",
            e(scrub_text(r.text, removed) if removed else r.text),
            num_cell(r.value),
            num_cell(r.threshold),
            e(r.rule or ""),
        )
        for r in rec.finding.reasons
    ]
    return "<h2>Reasons</h2>" + table(
        ("Code", "What was measured", "Value", "Threshold", "Rule"), rows
    )


def _bulk_checkin(ev: dict[str, Any], rec: FindingRecord, tz: ZoneInfo, full: bool) -> str:
    out = ["<h2>Bulk check-in</h2>"]
    bursts = ev.get("bursts") or []
    labels = [f"burst {i + 1}: {fmt_time(b.get('start'), tz)}" for i, b in enumerate(bursts)]
    facts = [
        ("Point", e(ev.get("point") or "not a declared point")),
        ("Days", e(", ".join(ev.get("days") or []))),
    ]
    gaps = ev.get("gaps") or {}
    if gaps:
        facts.append(
            (
                "Gaps between arrivals",
                e(
                    f"median {gaps.get('median_s')} s, min {gaps.get('min_s')} s, "
                    f"max {gaps.get('max_s')} s, CV {gaps.get('cv')}"
                ),
            )
        )
    shared = ev.get("shared") or {}
    if shared:
        facts.append(
            (
                "Shared hardware",
                e(
                    f"{shared.get('network_share', 0):.0%} on one network, "
                    f"{shared.get('device_model_share', 0):.0%} one phone model, "
                    f"{shared.get('photo_dup_share', 0):.0%} repeated photos, "
                    f"{shared.get('accounts_per_device')} accounts per device"
                ),
            )
        )
    if "accounts_never_here" in ev:
        facts.append(("Never otherwise here", e(f"{ev['accounts_never_here']} accounts")))
    out.append(_facts(facts))
    timeline = ev.get("timeline") or []
    if full and timeline:
        spread = next((r.threshold for r in rec.finding.reasons if r.code == "tight_spread"), None)
        out.append("<h3>Where the phones were</h3>")
        out.append(
            svg.checkin_plot(
                timeline,
                ring_m=spread,
                burst_labels=labels,
                ring_label=f"spread limit {spread:g} m" if spread else "",
            )
        )
        out.append("<h3>Arrivals per account</h3>")
        out.append(svg.arrivals_plot(timeline, label=short, burst_labels=labels))
    elif not full:
        out.append(
            "<p class='note'>Positions, accounts and the arrival timeline are shown "
            "to inspectors only.</p>"
        )
    rows = [
        (
            e(fmt_time(b.get("start"), tz)),
            num_cell(b.get("accounts")),
            num_cell(b.get("events")),
            num_cell(b.get("median_gap_s")),
            num_cell(b.get("gap_cv")),
            num_cell(b.get("spread_m")),
            num_cell(b.get("accuracy_m")),
            num_cell(b.get("others_around")),
        )
        for b in bursts
    ]
    out.append(
        "<h3>Bursts</h3>"
        + table(
            (
                "Start",
                "Accounts",
                "Check-ins",
                "Median gap s",
                "Gap CV",
                "Spread m",
                "GPS accuracy m",
                "Others around",
            ),
            rows,
        )
    )
    if full:
        accs = ev.get("accounts") or []
        devs = ev.get("devices") or []
        out.append(
            f"<p>Accounts ({len(accs)}): " + ", ".join(_pseudo(a) for a in accs) + "</p>"
            f"<p>Devices ({len(devs)}): " + ", ".join(_pseudo(x) for x in devs) + "</p>"
        )
    return "".join(out)


def _assessment(ev: dict[str, Any], trend: str) -> str:
    signals = ev.get("signals") or {}
    rows = []
    bars = []
    for name, s in signals.items():
        rows.append(
            (
                e(name),
                num_cell(s.get("value")),
                num_cell(s.get("threshold")),
                num_cell(s.get("points"), 3),
                num_cell(s.get("weight"), 3),
                e(s.get("rule")),
            )
        )
        bars.append((name, float(s.get("points") or 0.0), float(s.get("weight") or 0.0)))
    measured = sum(w for n, _, w in bars if signals[n].get("value") is not None)
    return (
        "<h2>Shutdown score breakdown</h2>"
        + _facts(
            [
                ("Score", e(f"{ev.get('score', 0):.1f} / 100 (band {ev.get('band')})")),
                ("Basis", e(ev.get("basis"))),
                (
                    "Measured weight",
                    e(f"{measured:g} points (signals without a value do not count)"),
                ),
            ]
        )
        + svg.score_bars(bars)
        + table(("Signal", "Value", "Threshold (points start)", "Points", "Weight", "Rule"), rows)
        + trend
    )


def _trend(days: list[Any]) -> str:
    if not days:
        return ""
    weeks: dict[int, list[int]] = {}
    first = days[0].day
    for dd in days:
        w = (dd.day - first) // 7
        acc = weeks.setdefault(w, [0, 0])
        acc[0] += dd.meaningful
        acc[1] += dd.events
    labels = [day_date(first + 7 * w).isoformat()[5:] for w in sorted(weeks)]
    return "<h2>Trend</h2>" + svg.line_chart(
        labels,
        [
            ("meaningful actions per week", [weeks[w][0] for w in sorted(weeks)]),
            ("all events per week", [weeks[w][1] for w in sorted(weeks)]),
        ],
        title="Activity per week (all accounts, from daily rollups)",
        unit="per week",
    )


def _deadline(ev: dict[str, Any]) -> str:
    out = ["<h2>Deadline concentration</h2>"]
    hh = ev.get("hour_histogram")
    if hh:
        out.append("<h3>Submissions by hour of day</h3>")
        out.append(
            svg.bar_chart(
                hh,
                [f"{h:02d}" for h in range(len(hh))],
                title="Submissions by hour of day (local time)",
                unit="submissions",
            )
        )
    per_day = ev.get("per_day")
    if per_day:
        out.append(
            table(
                ("Date", "Submissions", "Before the deadline", "Share", "Judged"),
                [
                    (
                        e(p["date"]),
                        num_cell(p["submissions"]),
                        num_cell(p["before_deadline"]),
                        e(f"{p['share']:.0%}"),
                        e("yes" if p.get("judged") else "no"),
                    )
                    for p in per_day
                ],
            )
        )
    dom = ev.get("day_of_month_histogram")
    if dom:
        out.append("<h3>Submissions by day of month</h3>")
        out.append(
            svg.bar_chart(
                dom,
                [str(i + 1) for i in range(len(dom))],
                title="Submissions by day of month",
                unit="submissions",
                highlight=frozenset(range(len(dom) - 3, len(dom))),
            )
        )
    per_month = ev.get("per_month")
    if per_month:
        out.append(
            table(
                ("Month", "Submissions", "In the last days", "Share", "Times the calendar share"),
                [
                    (
                        e(m["month"]),
                        num_cell(m["submissions"]),
                        num_cell(m["month_end_submissions"]),
                        e(f"{m['share']:.0%}"),
                        num_cell(m["ratio_to_calendar"]),
                    )
                    for m in per_month
                ],
            )
        )
    return "".join(out)


def _study(ev: dict[str, Any]) -> str:
    out = ["<h2>Study time: credited against the clock</h2>"]
    per_day = ev.get("credit_vs_wall_clock")
    if per_day:
        out.append(
            svg.paired_bars(
                [p["date"][5:] for p in per_day],
                [p["credited_s"] / 3600 for p in per_day],
                [p["wall_clock_s"] / 3600 for p in per_day],
                names=("credited study hours", "wall-clock hours spent"),
                title="Credited study time against wall-clock time per day",
                unit="hours",
            )
        )
        out.append(
            table(
                ("Date", "Credited h", "Wall clock h", "Account-days", "Inflated account-days"),
                [
                    (
                        e(p["date"]),
                        num_cell(p["credited_s"] / 3600),
                        num_cell(p["wall_clock_s"] / 3600),
                        num_cell(p["account_days"]),
                        num_cell(p["inflated_account_days"]),
                    )
                    for p in per_day
                ],
            )
        )
    rates = ev.get("playback_rate_histogram")
    if rates:
        edges = rates["edges"]
        labels = [
            f"{edges[i]:g}x" + ("+" if edges[i + 1] is None else "")
            for i in range(len(rates["counts"]))
        ]
        out.append("<h3>Playback rates</h3>")
        out.append(
            svg.bar_chart(
                rates["counts"], labels, title="Study events by playback rate", unit="events"
            )
        )
    daily = ev.get("daily_study")
    if daily:
        out.append(
            svg.bar_chart(
                [p["credited_s"] / 3600 for p in daily],
                [p["date"][5:] for p in daily],
                title="Credited study hours per day",
                unit="hours",
            )
        )
    return "".join(out)


def _events_table(events: list[Any], source: str, tz: ZoneInfo) -> str:
    if not events:
        return (
            "<h2>Evidence events</h2><p class='note'>No evidence events are stored any "
            "more (raw events are kept for the raw retention window; confirming a finding "
            "holds its evidence).</p>"
        )
    where = {
        "held": "held for this confirmed finding (kept past raw retention)",
        "raw": "from the raw store (deleted after the raw retention window unless the "
        "finding is confirmed)",
    }[source]
    rows = [
        (
            e(fmt_time(x.ts, tz)),
            e(EventType(x.type).name),
            _pseudo(x.account),
            _pseudo(x.device) if x.device else "-",
            e(x.point or "-"),
            e(f"{x.lat:.5f}, {x.lon:.5f}") if x.lat is not None and x.lon is not None else "-",
            f"<span class='mono'>{e(x.id)}</span>",
        )
        for x in events[:200]
    ]
    more = f"<p>First 200 of {len(events)}.</p>" if len(events) > 200 else ""
    return (
        f"<h2>Evidence events</h2><p>{len(events)} events {e(where)}.</p>"
        + table(("Time", "Type", "Account", "Device", "Point", "Position", "Event id"), rows)
        + more
    )


def _status_form(rec: FindingRecord, csrf: str | None, message: str = "") -> str:
    if csrf is None:
        return ""
    opts = "".join(f"<option value='{e(s)}'>{e(s)}</option>" for s in STATUSES if s != rec.status)
    msg = f"<p class='error'>{e(message)}</p>" if message else ""
    return (
        "<h2>Decision</h2>"
        + msg
        + f"<form method='post' action='/findings/{e(rec.finding.id)}/status'>"
        f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
        f"<label>New status <select name='status'>{opts}</select></label> "
        "<p><label>Reason (needed to dismiss)<br>"
        "<textarea name='reason' rows='3' maxlength='2000'></textarea></label></p>"
        "<button type='submit'>Record decision</button></form>"
    )


async def _finding_body(
    d: Daemon, rec: FindingRecord, user: User, csrf: str | None, message: str = ""
) -> str:
    tz = local_tz(d)
    f = rec.finding
    apps = registry(d)
    reg = apps.get(f.app)
    full = user.is_inspector
    removed: set[str] = set()
    ev: dict[str, Any] = f.evidence if full else redact_evidence(f.evidence, removed)
    summary = scrub_text(f.summary, removed) if removed else f.summary
    parts = [
        f"<h1>{e(f.kind)} on {e(f.app)}</h1><p>{e(summary)}</p>",
        _facts(
            [
                (
                    "App",
                    f"<a href='/findings?{e(urlencode({'app': f.app}))}'>{e(f.app)}</a>"
                    + (f" · {e(reg.name)} · {e(reg.owner)} · {e(reg.region)}" if reg else ""),
                ),
                ("Status", _status_badge(rec.status)),
                ("Severity", f"<span class='sev-{e(f.severity)}'>{e(f.severity)}</span>"),
                ("Score", e(f"{f.score:.2f}")),
                ("Confidence", e(f"{f.confidence:.2f}")),
                ("Window", e(f"{fmt_time(f.window_start, tz)} to {fmt_time(f.window_end, tz)}")),
                (
                    "First seen / last seen",
                    e(f"{fmt_time(rec.first_seen, tz)} / {fmt_time(rec.last_seen, tz)}"),
                ),
                ("Finding id", f"<span class='mono'>{e(f.id)}</span>"),
            ]
        ),
    ]
    if not full:
        parts.append(
            "<p class='note'>You are a viewer: accounts, devices, positions, event "
            "ids and timelines are left out.</p>"
        )
    if f.kind == "bulk_checkin":
        parts.append(_bulk_checkin(ev, rec, tz, full))
    elif f.kind in ("shutdown_candidate", "needs_review"):
        days = await d.store.read(
            app_daily_activity,
            d.store.reader,
            f.app,
            local_day_of(d.clock(), tz) - d.config.daemon.detect.rollup_days,
        )
        parts.append(_assessment(ev, _trend(days)))
    elif f.kind == "deadline_concentration":
        parts.append(_deadline(ev))
    elif f.kind == "study_inflation":
        parts.append(_study(ev))
    parts.append(_reasons(rec, removed))
    if full:
        events, source = await d.store.read(evidence_events, d.store.reader, rec)
        parts.append(_events_table(events, source, tz))
        entries = await d.store.read(audit_log, d.store.reader, f.id)
        parts.append(
            "<h2>Audit log</h2>"
            + (
                table(
                    ("When", "Who", "From", "To", "Reason"),
                    [
                        (
                            e(fmt_time(a.at, tz)),
                            e(a.actor),
                            e(a.from_status or "-"),
                            e(a.to_status),
                            e(a.reason or ""),
                        )
                        for a in entries
                    ],
                )
                if entries
                else "<p>No decisions yet.</p>"
            )
        )
        parts.append(_status_form(rec, csrf, message))
    shown = _HEX16.sub(r"\1…", json.dumps(ev, indent=1, ensure_ascii=False, default=str))
    parts.append(
        f"<details><summary>Evidence as recorded (JSON)</summary><pre>{e(shown)}</pre></details>"
    )
    return "".join(parts)


async def finding_page(request: web.Request) -> web.Response:
    d, user, csrf = _ctx(request)
    try:
        fid = check_id(request.match_info["id"])
    except BadRequest as err:
        return error_page(request, err)
    rec = await d.store.read(get_finding, d.store.reader, fid)
    if rec is None:
        return error_page(request, BadRequest("no such finding", {"id": fid}, 404))
    body = await _finding_body(d, rec, user, csrf)
    return layout(f"{rec.finding.kind} {rec.finding.app}", body, user, csrf)


async def status_submit(request: web.Request) -> web.Response:
    d, user, csrf = _ctx(request)
    form = await request.post()
    try:
        check_csrf(request, form)
        if not user.is_inspector:
            raise BadRequest("this needs the inspector role", {"role": user.role}, 403)
        fid = check_id(request.match_info["id"])
        to = str(form.get("status", ""))
        if to not in STATUSES:
            raise BadRequest("status must be one of " + ", ".join(STATUSES), None)
        await apply_status(d, fid, to, user, str(form.get("reason", "")) or None)
    except BadRequest as err:
        rec = None
        if err.status in (400, 409):
            rec = await d.store.read(get_finding, d.store.reader, request.match_info["id"])
        if rec is None:
            return error_page(request, err)
        body = await _finding_body(d, rec, user, csrf, message=err.error)
        return layout("Decision not recorded", body, user, csrf, status=err.status)
    raise web.HTTPSeeOther(f"/findings/{fid}")


# ---- apps -----------------------------------------------------------------------------


async def apps_page(request: web.Request) -> web.Response:
    d, user, csrf = _ctx(request)
    rows = assessments_json(d)
    tz = local_tz(d)
    counts = {b: 0 for b in (*BANDS, None)}
    for r in rows:
        counts[r["band"]] = counts.get(r["band"], 0) + 1
    band_rows = [(e(b or "not assessed yet"), num_cell(n)) for b, n in counts.items() if n]
    parts = [
        "<h1>Apps</h1>",
        f"<p>Assessed {e(fmt_time(d.detect.finished_at, tz))}.</p>",
        table(("Band", "Apps"), band_rows),
    ]
    for band, title in (("candidate", "Shutdown candidates"), ("review", "Needs review")):
        chosen = [r for r in rows if r["band"] == band]
        parts.append(f"<h2>{e(title)} ({len(chosen)})</h2>")
        if not chosen:
            parts.append("<p>None.</p>")
            continue
        parts.append(
            table(
                (
                    "App",
                    "Name",
                    "Owner",
                    "Region",
                    "Score",
                    "Confidence",
                    "Main reasons",
                    "Evidence",
                ),
                [
                    (
                        e(r["app"]),
                        e(r["name"]),
                        e(r["owner"]),
                        e(r["region"]),
                        num_cell(r["score"]),
                        num_cell(r["confidence"], 2),
                        "<ul>"
                        + "".join(f"<li>{e(x['text'])}</li>" for x in r["reasons"][:3])
                        + "</ul>",
                        f"<a href='/findings/{e(r['finding_id'])}'>score breakdown</a>"
                        if r["finding_id"]
                        else "-",
                    )
                    for r in chosen
                ],
            )
        )
    others = [r for r in rows if r["band"] not in ("candidate", "review")]
    parts.append(f"<h2>Other apps ({len(others)})</h2>")
    parts.append(
        table(
            ("App", "Name", "Owner", "Band", "Score", "Findings"),
            [
                (
                    e(r["app"]),
                    e(r["name"]),
                    e(r["owner"]),
                    e(r["band"] or "-"),
                    num_cell(r["score"]),
                    f"<a href='/findings?{e(urlencode({'app': r['app']}))}'>findings</a>",
                )
                for r in others
            ],
        )
    )
    return layout("Apps", "".join(parts), user, csrf)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/static/tapwatch.css", stylesheet)
    r.add_get("/login", login_page)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/findings", findings_page)
    r.add_get("/findings/{id}", finding_page)
    r.add_post("/findings/{id}/status", status_submit)
    r.add_get("/apps", apps_page)
