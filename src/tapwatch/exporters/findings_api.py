"""Findings API v1 (docs/openapi/findings-api-v1.yaml) and the access guard of the daemon.

Routes (all need a login from the users file; see tapwatch.daemon.auth):
  GET  /api/v1/findings              filters + paging
  GET  /api/v1/findings.csv|.json    the same filters, every match
  GET  /api/v1/findings/{id}         one finding with its evidence
  POST /api/v1/findings/{id}/status  {"status": ..., "reason": ...}   (inspector)
  GET  /api/v1/findings/{id}/audit                                     (inspector)
  GET  /api/v1/apps                  the shutdown assessment of every app

A `viewer` gets findings without personal evidence: no accounts, devices, coordinates,
event ids or timelines, in the evidence or in the summary text. Every malformed request is
answered with a 4xx and `{"error": "...", "detail": ...}`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from tapwatch.daemon.auth import (
    FINDINGS_REALM,
    METRICS_REALM,
    SESSION_COOKIE,
    Authenticator,
    Session,
    User,
    parse_basic,
    same_token,
)
from tapwatch.daemon.passwords import Verdict
from tapwatch.detectors import DETECTORS
from tapwatch.detectors.assessment import FINDING_KIND_BY_BAND, assessment_finding
from tapwatch.detectors.base import SEVERITIES
from tapwatch.events import Event, EventType
from tapwatch.store.findings import (
    MAX_REASON,
    STATUSES,
    TIME_FIELDS,
    FindingNotFound,
    FindingQuery,
    FindingRecord,
    StatusError,
    audit_log,
    evidence_events,
    get_finding,
    iter_findings,
    query_findings,
    set_status,
)

if TYPE_CHECKING:
    from tapwatch.config import AppConfig
    from tapwatch.daemon.runtime import Daemon

log = logging.getLogger("tapwatch.findings")

AUTH_KEY: web.AppKey[Authenticator] = web.AppKey("authenticator")
USER_KEY: web.RequestKey[User] = web.RequestKey("user", User)
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("session", Session)
INSPECTOR_DAEMON_KEY: web.AppKey[Any] = web.AppKey("inspector_daemon")
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_EXPORT = 100_000
KINDS = tuple(sorted({*DETECTORS, *FINDING_KIND_BY_BAND.values()}))
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_LIST_PARAMS = frozenset(
    {"app", "kind", "severity", "status", "owner", "region", "since", "until", "time_field"}
)
_PAGING = frozenset({"limit", "cursor", "offset"})
_enc = msgspec.json.Encoder()

#: Evidence keys that name people, phones, places people stood or single events. Numbers
#: under these keys are counts (e.g. a burst's "accounts": 12) and stay.
PERSONAL_KEYS = frozenset(
    {
        "accounts",
        "accounts_elsewhere",
        "account",
        "devices",
        "device",
        "networks",
        "network",
        "coordinates",
        "centre",
        "lat",
        "lon",
        "timeline",
        "event_ids",
        "example_event_ids",
        "other_submissions",
        "example_first_actions",
        "photo_hashes",
    }
)
_COORD_RE = re.compile(r"-?\d{1,3}\.\d{2,}\s*,\s*-?\d{1,3}\.\d{2,}")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class BadRequest(Exception):
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


# ---- who is asking -------------------------------------------------------------------


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


def current_user(request: web.Request) -> User:
    return request[USER_KEY]


def current_session(request: web.Request) -> Session | None:
    return request.get(SESSION_KEY)


def client_addr(request: web.Request) -> str:
    return request.remote or "unknown"


def _www_auth(realm: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'}


def _retry_after(v: Verdict) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(v.retry_after + 0.999)))}


@web.middleware
async def inspector_guard(
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
            request[SESSION_KEY], user = found
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
    request[USER_KEY] = user
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


def require_inspector(request: web.Request) -> User:
    user = current_user(request)
    if not user.is_inspector:
        raise BadRequest("this needs the inspector role", {"role": user.role}, status=403)
    return user


# ---- parsing ------------------------------------------------------------------------


def parse_time(value: str, tz: ZoneInfo, name: str) -> float:
    """RFC 3339 with an offset, a date (local midnight in the daemon's time zone) or
    epoch seconds."""
    v = value.strip()
    try:
        ts = float(v)
    except ValueError:
        pass
    else:
        if ts != ts or ts in (float("inf"), float("-inf")) or ts < 0:
            raise BadRequest(f"{name} is out of range", {"parameter": name, "value": value[:64]})
        return ts
    try:
        if len(v) == 10:
            d = date.fromisoformat(v)
            return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise BadRequest(
            f"{name} must be RFC 3339 with an offset, a date YYYY-MM-DD or epoch seconds",
            {"parameter": name, "value": value[:64]},
        ) from None
    if dt.tzinfo is None:
        raise BadRequest(f"{name} has no UTC offset", {"parameter": name, "value": value[:64]})
    return dt.timestamp()


def encode_cursor(after: tuple[float, str]) -> str:
    raw = json.dumps([after[0], after[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        first_seen, fid = json.loads(raw)
        if not isinstance(first_seen, int | float) or not isinstance(fid, str):
            raise ValueError
        return float(first_seen), fid
    except (ValueError, TypeError, UnicodeDecodeError):
        raise BadRequest("cursor is not one this API gave", {"parameter": "cursor"}) from None


def _values(q: Any, name: str) -> tuple[str, ...] | None:
    vals = tuple(q.getall(name, []))
    for v in vals:
        if len(v) > 200:
            raise BadRequest(f"{name} value is too long", {"parameter": name})
    return vals or None


def _enum(q: Any, name: str, allowed: Iterable[str]) -> tuple[str, ...] | None:
    vals = _values(q, name)
    allowed = tuple(allowed)
    for v in vals or ():
        if v not in allowed:
            raise BadRequest(
                f"unknown {name} {v[:64]!r}", {"parameter": name, "allowed": list(allowed)}
            )
    return vals


def parse_filters(
    q: Any, apps: dict[str, AppConfig], tz: ZoneInfo, *, paging: bool
) -> FindingQuery:
    """A FindingQuery from query parameters (unknown parameters are errors; an empty value
    is a value: `status=` is an unknown status, `app=` matches no app)."""
    allowed = _LIST_PARAMS | _PAGING if paging else _LIST_PARAMS
    unknown = sorted(set(q.keys()) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}", {"allowed": sorted(allowed)})
    app_ids = _values(q, "app")
    for key in ("owner", "region"):
        wanted = _values(q, key)
        if wanted is not None:
            ids = {a.id for a in apps.values() if getattr(a, key) in wanted}
            app_ids = tuple(sorted(ids if app_ids is None else ids & set(app_ids)))
    since = until = None
    if "since" in q:
        since = parse_time(q["since"], tz, "since")
    if "until" in q:
        until = parse_time(q["until"], tz, "until")
    if since is not None and until is not None and since >= until:
        raise BadRequest("since must be before until", {"since": since, "until": until})
    time_field = q.get("time_field", "window")
    if time_field not in TIME_FIELDS:
        raise BadRequest("unknown time_field", {"allowed": list(TIME_FIELDS)})
    limit, offset, after = DEFAULT_LIMIT, 0, None
    if paging:
        limit = _int(q, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int(q, "offset", 0, 0, 10**9)
        if "cursor" in q:
            if "offset" in q:
                raise BadRequest("give cursor or offset, not both", None)
            after = decode_cursor(q["cursor"])
    return FindingQuery(
        apps=app_ids,
        kinds=_enum(q, "kind", KINDS),
        severities=_enum(q, "severity", SEVERITIES),
        statuses=_enum(q, "status", STATUSES),
        since=since,
        until=until,
        time_field=time_field,
        limit=limit,
        after=after,
        offset=offset,
    )


def _int(q: Any, name: str, default: int, lo: int, hi: int) -> int:
    if name not in q:
        return default
    raw = q[name]
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", {"parameter": name}) from None
    if not lo <= v <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}", {"parameter": name})
    return v


def check_id(fid: str) -> str:
    if not _ID_RE.match(fid):
        raise BadRequest("malformed finding id", {"parameter": "id"})
    return fid


# ---- what a role may see -------------------------------------------------------------


def _personal_strings(v: Any, out: set[str]) -> None:
    if isinstance(v, str):
        if len(v) >= 4:
            out.add(v)
    elif isinstance(v, dict):
        for k, x in v.items():
            if any(c.isdigit() for c in k):  # keyed by pseudonym or id, not a field name
                _personal_strings(k, out)
            _personal_strings(x, out)
    elif isinstance(v, list | tuple):
        for x in v:
            _personal_strings(x, out)


def redact_evidence(v: Any, removed: set[str]) -> Any:
    """The evidence without personal values (collected into `removed`)."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in PERSONAL_KEYS and not (isinstance(x, int | float) or x is None):
                _personal_strings(x, removed)
                continue
            out[k] = redact_evidence(x, removed)
        return out
    if isinstance(v, list):
        return [redact_evidence(x, removed) for x in v]
    return v


def scrub_text(text: str, removed: set[str]) -> str:
    """Text with removed personal values and coordinates blanked out."""
    for s in sorted(removed, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "[redacted]")
    return _COORD_RE.sub("[location]", text)


def registry(d: Daemon) -> dict[str, AppConfig]:
    return {a.config.id: a.config for a in d.config.apps}


def finding_json(
    rec: FindingRecord, apps: dict[str, AppConfig], user: User, *, evidence: bool
) -> dict[str, Any]:
    """A finding as the API shows it to this user."""
    f = rec.finding
    reg = apps.get(f.app)
    removed: set[str] = set()
    ev: Any = f.evidence
    if not user.is_inspector:
        ev = redact_evidence(f.evidence, removed)
    out: dict[str, Any] = {
        "id": f.id,
        "kind": f.kind,
        "app": f.app,
        "app_name": reg.name if reg else None,
        "owner": reg.owner if reg else None,
        "region": reg.region if reg else None,
        "severity": f.severity,
        "score": f.score,
        "confidence": f.confidence,
        "status": rec.status,
        "window_start": f.window_start,
        "window_end": f.window_end,
        "first_seen": rec.first_seen,
        "last_seen": rec.last_seen,
        "summary": scrub_text(f.summary, removed) if removed else f.summary,
        "reasons": [
            {
                "code": r.code,
                "text": scrub_text(r.text, removed) if removed else r.text,
                "value": r.value,
                "threshold": r.threshold,
                "rule": r.rule,
            }
            for r in f.reasons
        ],
        "links": {"self": f"/api/v1/findings/{f.id}", "page": f"/findings/{f.id}"},
    }
    if evidence:
        out["evidence"] = ev
        out["evidence_redacted"] = not user.is_inspector
    return out


def event_json(e: Event) -> dict[str, Any]:
    d = msgspec.structs.asdict(e)
    d["type"] = EventType(e.type).name
    return {k: v for k, v in d.items() if v is not None}


# ---- handlers -------------------------------------------------------------------------


def _daemon(request: web.Request) -> Daemon:
    return request.app[INSPECTOR_DAEMON_KEY]  # type: ignore[no-any-return]


def local_tz(d: Daemon) -> ZoneInfo:
    return ZoneInfo(d.config.daemon.detect.timezone)


def api(fn: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """Turn BadRequest into the JSON error answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except BadRequest as e:
            return json_error(e.status, e.error, e.detail)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


@api
async def list_findings(request: web.Request) -> web.StreamResponse:
    d = _daemon(request)
    user = current_user(request)
    apps = registry(d)
    q = parse_filters(request.query, apps, local_tz(d), paging=True)
    page = await d.store.read(query_findings, d.store.reader, q)
    return json_ok(
        {
            "findings": [finding_json(r, apps, user, evidence=False) for r in page.records],
            "total": page.total,
            "limit": q.limit,
            "offset": q.offset,
            "next_cursor": encode_cursor(page.next_after) if page.next_after else None,
        }
    )


async def _load(d: Daemon, fid: str) -> FindingRecord:
    rec = await d.store.read(get_finding, d.store.reader, check_id(fid))
    if rec is None:
        raise BadRequest("no such finding", {"id": fid}, status=404)
    return rec


@api
async def one_finding(request: web.Request) -> web.StreamResponse:
    d = _daemon(request)
    user = current_user(request)
    rec = await _load(d, request.match_info["id"])
    body = finding_json(rec, registry(d), user, evidence=True)
    if user.is_inspector:
        events, source = await d.store.read(evidence_events, d.store.reader, rec)
        body["events"] = [event_json(e) for e in events]
        body["events_source"] = source
    return json_ok(body)


@api
async def change_status(request: web.Request) -> web.StreamResponse:
    d = _daemon(request)
    user = require_inspector(request)
    fid = check_id(request.match_info["id"])
    # JSON only: a cross-site form cannot send it without a CORS preflight we never allow.
    if request.content_type != "application/json":
        raise BadRequest("send the body as application/json", None, status=415)
    session = current_session(request)
    if session is not None and not same_token(request.headers.get("X-CSRF-Token"), session.csrf):
        raise BadRequest("missing or wrong X-CSRF-Token for a session login", None, status=403)
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON", None) from None
    to, reason = _status_body(body)
    entry, held = await apply_status(d, fid, to, user, reason)
    return json_ok({"id": fid, "status": to, "audit": _audit_json(entry), "held_events": held})


def _status_body(body: Any) -> tuple[str, str | None]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", None)
    extra = sorted(set(body) - {"status", "reason"})
    if extra:
        raise BadRequest(f"unknown field {extra[0]!r}", {"allowed": ["status", "reason"]})
    to = body.get("status")
    if not isinstance(to, str) or to not in STATUSES:
        raise BadRequest("status must be one of " + ", ".join(STATUSES), {"field": "status"})
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadRequest("reason must be a string", {"field": "reason"})
    if reason is not None and len(reason) > MAX_REASON:
        raise BadRequest(f"reason is longer than {MAX_REASON} characters", {"field": "reason"})
    return to, reason


async def apply_status(
    d: Daemon, fid: str, to: str, user: User, reason: str | None
) -> tuple[Any, int]:
    try:
        entry, held = await d.store.write(
            set_status, d.store.writer, fid, to, user.name, reason, d.clock()
        )
    except FindingNotFound:
        raise BadRequest("no such finding", {"id": fid}, status=404) from None
    except StatusError as e:
        raise BadRequest(str(e), {"status": to}, status=409 if e.conflict else 400) from None
    log.info(
        "finding %s: %s -> %s by %s (%d events held)", fid, entry.from_status, to, user.name, held
    )
    return entry, held


def _audit_json(e: Any) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "from": e.from_status,
        "to": e.to_status,
        "reason": e.reason,
    }


@api
async def finding_audit(request: web.Request) -> web.StreamResponse:
    d = _daemon(request)
    require_inspector(request)
    rec = await _load(d, request.match_info["id"])
    entries = await d.store.read(audit_log, d.store.reader, rec.finding.id)
    return json_ok({"id": rec.finding.id, "audit": [_audit_json(e) for e in entries]})


async def _export_rows(request: web.Request) -> tuple[list[FindingRecord], dict[str, Any]]:
    d = _daemon(request)
    apps = registry(d)
    q = parse_filters(request.query, apps, local_tz(d), paging=False)

    def read() -> list[FindingRecord]:
        out = []
        for r in iter_findings(d.store.reader, q):
            out.append(r)
            if len(out) >= MAX_EXPORT:
                break
        return out

    return await d.store.read(read), apps


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _cell(v: object) -> object:
    """Spreadsheets run cells starting with = + - @ as formulas: quote those."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


CSV_COLUMNS = (
    "id", "app", "app_name", "owner", "region", "kind", "severity", "score", "confidence",
    "status", "window_start", "window_end", "first_seen", "last_seen", "reasons", "summary",
)  # fmt: skip


@api
async def export_csv(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    rows, apps = await _export_rows(request)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        j = finding_json(r, apps, user, evidence=False)
        j["reasons"] = ";".join(x["code"] for x in j["reasons"])
        for k in ("window_start", "window_end", "first_seen", "last_seen"):
            j[k] = _iso(j[k])
        w.writerow([_cell(j[c]) for c in CSV_COLUMNS])
    return web.Response(
        text=buf.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="findings.csv"'},
    )


@api
async def export_json(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    rows, apps = await _export_rows(request)
    resp = json_ok(
        {
            "findings": [finding_json(r, apps, user, evidence=True) for r in rows],
            "total": len(rows),
        }
    )
    resp.headers["Content-Disposition"] = 'attachment; filename="findings.json"'
    return resp


def assessments_json(d: Daemon) -> list[dict[str, Any]]:
    """Every app of this daemon's shard with its latest assessment (band None before the
    first detector pass)."""
    result = d.detect.result
    assessments = getattr(result, "assessments", {}) or {}
    out = []
    for app in d.my_apps():
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
            f = assessment_finding(a, d.detect.finished_at or d.clock())
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
    d = _daemon(request)
    unknown = sorted(set(request.query.keys()) - {"band"})
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}", {"allowed": ["band"]})
    from tapwatch.detectors.assessment import BANDS

    bands = _enum(request.query, "band", BANDS)
    rows = assessments_json(d)
    if bands:
        rows = [r for r in rows if r["band"] in bands]
    return json_ok({"apps": rows, "assessed_at": d.detect.finished_at})


async def api_root(request: web.Request) -> web.StreamResponse:
    return json_ok(
        {
            "user": current_user(request).name,
            "role": current_user(request).role,
            "links": ["/api/v1/findings", "/api/v1/apps"],
        }
    )


# ---- wiring ---------------------------------------------------------------------------


def register_inspector(app: web.Application, d: Daemon) -> None:
    """Add the findings API, the inspector pages and the access guard (with the daemon's
    Authenticator) to the daemon's app."""
    from tapwatch.exporters import pages

    app[AUTH_KEY] = d.auth
    app[INSPECTOR_DAEMON_KEY] = d
    app.middlewares.append(inspector_guard)
    r = app.router
    r.add_get("/api/v1", api_root)
    r.add_get("/api/v1/findings", list_findings)
    r.add_get("/api/v1/findings.csv", export_csv)
    r.add_get("/api/v1/findings.json", export_json)
    r.add_get("/api/v1/findings/{id}", one_finding)
    r.add_post("/api/v1/findings/{id}/status", change_status)
    r.add_get("/api/v1/findings/{id}/audit", finding_audit)
    r.add_get("/api/v1/apps", list_apps)
    pages.add_routes(app)
