"""Findings API and inspector pages over real sockets, on findings the real detectors
produced from the simulator's fleet (ingested by the daemon itself)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
import yarl

from tapwatch.daemon.auth import create_demo_users, hash_password
from tapwatch.daemon.runtime import Daemon
from tapwatch.detectors.assessment import SIGNALS
from tapwatch.simulator import Simulator, SimulatorOptions
from tests.integration.conftest import wait_for, write_daemon_config

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: bulk check-in rings, an empty shell, deadline pile-ups, study inflation, a device farm,
#: duplicate reporting across two apps and an official account read by rote
APPS = (
    "risk-point-checkin",
    "empty-shell",
    "deadline-reports",
    "cadre-academy",
    "device-farm",
    "duplicate-forms-a",
    "duplicate-forms-b",
    "party-official-account",
)


@asynccontextmanager
async def simulated_daemon(
    tmp: Path, apps: tuple[str, ...] = APPS, history_days: int = 100, web_config: Path | None = None
) -> AsyncIterator[tuple[Daemon, Simulator, dict[str, str]]]:
    """The simulator serving `apps`, a daemon that ingested all their history and ran one
    detector pass, and the demo users' credentials."""
    sim = Simulator(
        SimulatorOptions(
            history_days=history_days, scale=0.25, include=list(apps), poll_interval="0.2s"
        )
    )
    await sim.start()
    sim.write_registry(tmp / "apps.yaml")
    registry = yaml.safe_load((tmp / "apps.yaml").read_text())["apps"]
    creds = create_demo_users(tmp / "auth")
    server: dict[str, Any] = {"listen": "127.0.0.1:0", "users_file": str(tmp / "auth/users.yaml")}
    if web_config is not None:
        server["web_config_file"] = str(web_config)
    cfg = write_daemon_config(tmp, registry, extra={"server": server})
    expected = {a: sum(1 for _ in sim.iter_events(a)) for a in apps}
    d = Daemon(cfg)
    await d.start()
    try:
        await wait_for(
            lambda: all(sum(d.states[a].ingested.values()) >= n for a, n in expected.items()),
            timeout=60,
        )
        await d.detect_once()
        yield d, sim, creds
    finally:
        await d.stop()
        await sim.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    tmp = tmp_path_factory.mktemp("findings-api")
    async with simulated_daemon(tmp) as (d, sim, creds):
        yield d, sim, creds, tmp


def base(d: Daemon) -> str:
    return f"http://127.0.0.1:{d.port}"


def hdr(user: str, password: str) -> dict[str, str]:
    """Basic auth headers."""
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


def basic(creds: dict[str, str], who: str) -> dict[str, str]:
    return hdr(who, creds[who])


async def get_json(d: Daemon, path: str, headers: dict[str, str] | None, status: int = 200) -> Any:
    async with aiohttp.ClientSession() as s, s.get(base(d) + path, headers=headers or {}) as r:
        body = await r.json(content_type=None)
        assert r.status == status, (path, r.status, body)
        return body


async def one_of(d: Daemon, creds: dict[str, str], kind: str, app: str | None = None) -> dict:
    q = f"?kind={kind}" + (f"&app={app}" if app else "")
    body = await get_json(d, "/api/v1/findings" + q, basic(creds, "inspector"))
    assert body["findings"], f"no {kind} finding"
    return body["findings"][0]


# -- what the exporters see of the daemon ---------------------------------------------------


async def test_the_daemon_hands_its_exporters_the_views_they_declare(fleet: Any) -> None:
    from tapwatch.daemon.views import DaemonInspector
    from tapwatch.exporters.view import CollectorView, FindingsStore, InspectorView

    d, _, _, _ = fleet
    inspector = DaemonInspector(d)
    assert isinstance(d, CollectorView)
    assert isinstance(inspector, InspectorView)
    assert isinstance(inspector.findings, FindingsStore)
    assert set(inspector.registry()) >= set(APPS) and inspector.assessed_at is not None


# -- logins and roles ---------------------------------------------------------------------


async def test_every_inspector_route_needs_a_login_and_the_right_role(fleet: Any) -> None:
    d, _, creds, _ = fleet
    f = await one_of(d, creds, "bulk_checkin")
    async with aiohttp.ClientSession() as s:
        for path in (
            "/api/v1/findings",
            f"/api/v1/findings/{f['id']}",
            "/api/v1/apps",
            "/api/v1/findings.csv",
            f"/api/v1/findings/{f['id']}/audit",
        ):
            async with s.get(base(d) + path) as r:
                assert r.status == 401, path
                assert r.headers["WWW-Authenticate"].startswith("Basic")
                body = await r.json()
                assert body["error"] == "login required"
            async with s.get(base(d) + path, headers=hdr("inspector", "wrong")) as r:
                assert r.status == 401, path
        # pages send people to the login form, keeping where they were going
        async with s.get(
            base(d) + "/findings?app=empty-shell&kind=ritual_usage", allow_redirects=False
        ) as r:
            assert r.status == 303
            loc = yarl.URL(r.headers["Location"])
            assert loc.path == "/login"
            assert loc.query["next"] == "/findings?app=empty-shell&kind=ritual_usage"
        viewer = basic(creds, "viewer")
        async with s.post(
            base(d) + f"/api/v1/findings/{f['id']}/status",
            headers=viewer,
            json={"status": "confirmed"},
        ) as r:
            assert r.status == 403
            assert (await r.json())["error"] == "this needs the inspector role"
        async with s.get(base(d) + f"/api/v1/findings/{f['id']}/audit", headers=viewer) as r:
            assert r.status == 403
        # /metrics stays open without a web config
        async with s.get(base(d) + "/metrics") as r:
            assert r.status == 200


async def test_unknown_api_routes_and_methods_answer_json(fleet: Any) -> None:
    d, _, creds, _ = fleet
    async with aiohttp.ClientSession() as s:
        async with s.get(base(d) + "/api/v1/nothing", headers=basic(creds, "viewer")) as r:
            assert r.status == 404
            assert (await r.json())["error"] == "Not Found"
        async with s.delete(base(d) + "/api/v1/findings", headers=basic(creds, "viewer")) as r:
            assert r.status == 405
            assert "GET" in r.headers["Allow"]
            assert (await r.json())["error"] == "Method Not Allowed"


# -- list, filters, paging ----------------------------------------------------------------


async def test_filters_select_what_they_name(fleet: Any) -> None:
    d, _, creds, _ = fleet
    who = basic(creds, "viewer")
    everything = await get_json(d, "/api/v1/findings?limit=500", who)
    all_f = everything["findings"]
    assert everything["total"] == len(all_f) >= 8
    kinds = {f["kind"] for f in all_f}
    assert {"bulk_checkin", "deadline_concentration", "study_inflation"} <= kinds
    assert kinds & {"shutdown_candidate", "needs_review"}

    body = await get_json(d, "/api/v1/findings?app=risk-point-checkin&kind=bulk_checkin", who)
    assert (
        body["total"]
        == sum(f["app"] == "risk-point-checkin" and f["kind"] == "bulk_checkin" for f in all_f)
        >= 1
    )
    # owner and region come from the registry
    owner = next(f["owner"] for f in all_f if f["app"] == "cadre-academy")
    body = await get_json(d, f"/api/v1/findings?owner={owner}&limit=500", who)
    assert {f["app"] for f in body["findings"]} == {f["app"] for f in all_f if f["owner"] == owner}
    body = await get_json(d, "/api/v1/findings?region=Nowhere", who)
    assert body["total"] == 0
    # several values of one filter: any of them
    body = await get_json(d, "/api/v1/findings?severity=critical&severity=info&limit=500", who)
    assert body["total"] == sum(f["severity"] in ("critical", "info") for f in all_f)
    # time range on the window: overlapping findings only
    w = max(all_f, key=lambda f: f["window_start"])
    body = await get_json(d, f"/api/v1/findings?since={w['window_start']}&limit=500", who)
    assert w["id"] in {f["id"] for f in body["findings"]}
    assert all(f["window_end"] >= w["window_start"] for f in body["findings"])
    body = await get_json(d, "/api/v1/findings?since=2000-01-01T00:00:00Z&until=2000-01-02", who)
    assert body["total"] == 0


async def test_cursor_and_offset_paging_walk_every_finding_once_in_a_stable_order(
    fleet: Any,
) -> None:
    d, _, creds, _ = fleet
    who = basic(creds, "viewer")
    full = [f["id"] for f in (await get_json(d, "/api/v1/findings?limit=500", who))["findings"]]
    seen: list[str] = []
    cursor = None
    while True:
        page = await get_json(
            d, "/api/v1/findings?limit=3" + (f"&cursor={cursor}" if cursor else ""), who
        )
        seen += [f["id"] for f in page["findings"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == full
    by_offset = await get_json(d, "/api/v1/findings?limit=3&offset=3", who)
    assert [f["id"] for f in by_offset["findings"]] == full[3:6]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("limit=0", "limit must be between 1 and 500"),
        ("limit=501", "limit must be between 1 and 500"),
        ("limit=ten", "limit must be an integer"),
        ("offset=-1", "offset must be between 0 and 1000000000"),
        ("cursor=%%%", "cursor is not one this API gave"),
        ("cursor=WzEsMl0&offset=3", "give cursor or offset, not both"),
        (
            "since=yesterday",
            "since must be RFC 3339 with an offset, a date YYYY-MM-DD or epoch seconds",
        ),
        ("since=2026-01-01T00:00:00", "since has no UTC offset"),
        ("since=2026-02-01&until=2026-01-01", "since must be before until"),
        ("kind=ranking", "unknown kind 'ranking'"),
        ("status=closed", "unknown status 'closed'"),
        ("severity=high", "unknown severity 'high'"),
        ("time_field=seen", "unknown time_field"),
        ("colour=red", "unknown query parameter 'colour'"),
    ],
)
async def test_malformed_list_queries_get_a_clear_400(fleet: Any, query: str, error: str) -> None:
    d, _, creds, _ = fleet
    body = await get_json(d, "/api/v1/findings?" + query, basic(creds, "viewer"), status=400)
    assert body["error"] == error
    assert "detail" in body


# -- one finding, roles ---------------------------------------------------------------------


def _strings(v: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(v, str):
        out.add(v)
    elif isinstance(v, dict):
        for k, x in v.items():
            out |= _strings(k) | _strings(x)
    elif isinstance(v, list):
        for x in v:
            out |= _strings(x)
    return out


async def test_viewer_sees_no_personal_evidence_inspector_sees_all(fleet: Any) -> None:
    d, _, creds, _ = fleet
    listing = await get_json(d, "/api/v1/findings?limit=500", basic(creds, "inspector"))
    checked = 0
    for item in listing["findings"]:
        full = await get_json(d, f"/api/v1/findings/{item['id']}", basic(creds, "inspector"))
        seen = await get_json(d, f"/api/v1/findings/{item['id']}", basic(creds, "viewer"))
        assert seen["evidence_redacted"] is True and full["evidence_redacted"] is False
        assert "events" not in seen
        ev = full["evidence"]
        personal = set()
        for key in ("accounts", "devices", "device", "event_ids", "accounts_elsewhere"):
            if isinstance(ev.get(key), list | str):
                personal |= _strings(ev[key])
        for t in ev.get("timeline", []):
            personal.add(t["account"])
        text = json.dumps(seen)
        for p in personal:
            assert p not in text, (item["kind"], p)
        for key in ("timeline", "coordinates", "centre", "event_ids", "accounts", "devices"):
            assert key not in seen["evidence"], (item["kind"], key)
        checked += bool(personal)
    assert checked >= 5  # bulk check-in, study inflation, banned features ... had some

    ring = await one_of(d, creds, "bulk_checkin")
    full = await get_json(d, f"/api/v1/findings/{ring['id']}", basic(creds, "inspector"))
    assert full["evidence"]["timeline"] and full["evidence"]["accounts"]
    assert full["events_source"] == "raw"
    assert {e["id"] for e in full["events"]} == set(full["evidence"]["event_ids"])
    seen = await get_json(d, f"/api/v1/findings/{ring['id']}", basic(creds, "viewer"))
    assert seen["evidence"]["bursts"][0]["accounts"] >= 3  # counts stay
    assert seen["summary"] == full["summary"]  # at a declared point: nothing to hide


async def test_bad_finding_ids_get_400_and_unknown_ones_404(fleet: Any) -> None:
    d, _, creds, _ = fleet
    who = basic(creds, "inspector")
    body = await get_json(d, "/api/v1/findings/" + "x" * 200, who, status=400)
    assert body["error"] == "malformed finding id"
    body = await get_json(d, "/api/v1/findings/0123456789abcdef0123", who, status=404)
    assert body == {"error": "no such finding", "detail": {"id": "0123456789abcdef0123"}}


# -- status changes, audit, evidence hold ---------------------------------------------------


async def post_status(
    d: Daemon, auth: dict[str, str], fid: str, body: Any, status: int, **kw: Any
) -> Any:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            base(d) + f"/api/v1/findings/{fid}/status", headers=auth, **({"json": body} | kw)
        ) as r,
    ):
        got = await r.json()
        assert r.status == status, got
        return got


async def test_status_changes_are_audited_hold_evidence_and_survive_detection(
    fleet: Any,
) -> None:
    d, _, creds, tmp = fleet
    insp = basic(creds, "inspector")
    ring = await one_of(d, creds, "bulk_checkin")
    fid = ring["id"]
    full = await get_json(d, f"/api/v1/findings/{fid}", insp)
    n_ids = len(full["evidence"]["event_ids"])

    got = await post_status(d, insp, fid, {"status": "confirmed", "reason": "seen on site"}, 200)
    assert got["held_events"] == n_ids
    assert got["audit"]["actor"] == "inspector" and got["audit"]["from"] == "open"
    db = sqlite3.connect(tmp / "store.sqlite")
    assert (
        db.execute("SELECT COUNT(*) FROM held_events WHERE finding_id=?", (fid,)).fetchone()[0]
        == n_ids
    )

    body = await post_status(d, insp, fid, {"status": "confirmed"}, 409)
    assert body["error"] == "the finding is already confirmed"
    body = await post_status(d, insp, fid, {"status": "dismissed"}, 400)
    assert body["error"] == "a dismissal needs a reason"
    body = await post_status(d, insp, fid, {"status": "dismissed", "reason": "  "}, 400)
    assert body["error"] == "a dismissal needs a reason"
    await post_status(d, insp, fid, {"status": "dismissed", "reason": "school drill"}, 200)
    assert (
        db.execute("SELECT COUNT(*) FROM held_events WHERE finding_id=?", (fid,)).fetchone()[0] == 0
    )

    # the detector produces it again: the inspector's dismissal stays
    await d.detect_once()
    again = await get_json(d, f"/api/v1/findings/{fid}", insp)
    assert again["status"] == "dismissed"
    audit = await get_json(d, f"/api/v1/findings/{fid}/audit", insp)
    assert [(a["from"], a["to"], a["actor"], a["reason"]) for a in audit["audit"]] == [
        ("open", "confirmed", "inspector", "seen on site"),
        ("confirmed", "dismissed", "inspector", "school drill"),
    ]
    # append-only: entries are numbered in order and times never go back
    seqs = [a["seq"] for a in audit["audit"]]
    assert seqs == sorted(seqs)
    await post_status(d, insp, fid, {"status": "open"}, 200)


async def test_a_cross_app_finding_is_listed_for_each_of_its_apps(fleet: Any) -> None:
    """The two duplicate-forms apps serve the same clerks for one job: one consolidation
    finding, filed under the app to keep, listed under both; its evidence names both."""
    d, _, creds, _ = fleet
    insp = basic(creds, "inspector")
    merge = await one_of(d, creds, "consolidation")
    assert sorted(merge["apps"]) == ["duplicate-forms-a", "duplicate-forms-b"]
    assert merge["app"] == merge["apps"][0]
    for app in merge["apps"]:
        listed = await get_json(d, f"/api/v1/findings?kind=consolidation&app={app}", insp)
        assert [f["id"] for f in listed["findings"]] == [merge["id"]]
    full = await get_json(d, f"/api/v1/findings/{merge['id']}", insp)
    assert full["evidence"]["keep"] == merge["app"]
    assert full["evidence"]["combined_annual_cost_cny"] == 160_000 + 210_000
    single = await one_of(d, creds, "bulk_checkin")
    assert single["apps"] == [single["app"]]


async def test_confirming_duplicate_reporting_holds_the_other_apps_submissions_too(
    fleet: Any,
) -> None:
    d, _, creds, tmp = fleet
    insp = basic(creds, "inspector")
    dup = await one_of(d, creds, "duplicate_reporting")
    full = await get_json(d, f"/api/v1/findings/{dup['id']}", insp)
    own = set(full["evidence"]["event_ids"])
    others = {(s["app"], s["event_id"]) for s in full["evidence"]["other_submissions"]}
    assert own and others and {a for a, _ in others} != {dup["app"]}
    got = await post_status(d, insp, dup["id"], {"status": "confirmed"}, 200)
    assert got["held_events"] == len(own) + len(others)
    db = sqlite3.connect(tmp / "store.sqlite")
    held = set(
        db.execute(
            "SELECT a.id, h.eid FROM held_events h JOIN apps a ON a.pk = h.app_pk "
            "WHERE h.finding_id=?",
            (dup["id"],),
        )
    )
    assert held == {(dup["app"], i) for i in own} | others
    await post_status(d, insp, dup["id"], {"status": "resolved", "reason": "merged"}, 200)
    assert (
        db.execute("SELECT COUNT(*) FROM held_events WHERE finding_id=?", (dup["id"],)).fetchone()[
            0
        ]
        == 0
    )


@pytest.mark.parametrize(
    ("body", "kw", "status", "error"),
    [
        (
            {"status": "closed"},
            {},
            400,
            "status must be one of open, confirmed, dismissed, resolved",
        ),
        ({"status": "open", "by": "me"}, {}, 400, "unknown field 'by'"),
        ({"status": "dismissed", "reason": 5}, {}, 400, "reason must be a string"),
        (
            {"status": "dismissed", "reason": "x" * 2001},
            {},
            400,
            "reason is longer than 2000 characters",
        ),
        ([1, 2], {}, 400, "the body must be a JSON object"),
        (
            None,
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "the body is not JSON",
        ),
        (None, {"data": b"status=open"}, 415, "send the body as application/json"),
        (
            None,  # nested 200,000 levels: once a RecursionError and a 500
            {"data": b'{"status":' + b"[" * 200_000 + b"]" * 200_000 + b"}",
             "headers": {"Content-Type": "application/json"}},
            400,
            "the body is nested too deeply",
        ),
    ],
)
async def test_malformed_status_bodies_get_a_clear_error(
    fleet: Any, body: Any, kw: dict, status: int, error: str
) -> None:
    d, _, creds, _ = fleet
    f = await one_of(d, creds, "deadline_concentration")
    args = kw if body is None else {"json": body}
    headers = basic(creds, "inspector") | args.pop("headers", {})
    async with (
        aiohttp.ClientSession() as s,
        s.post(base(d) + f"/api/v1/findings/{f['id']}/status", headers=headers, **args) as r,
    ):
        got = await r.json()
        assert (r.status, got["error"]) == (status, error)


# -- exports and apps -----------------------------------------------------------------------


async def test_csv_and_json_exports_follow_the_filters(fleet: Any) -> None:
    d, _, creds, _ = fleet
    who = basic(creds, "viewer")
    listed = await get_json(d, "/api/v1/findings?app=cadre-academy&limit=500", who)
    async with aiohttp.ClientSession() as s:
        async with s.get(base(d) + "/api/v1/findings.csv?app=cadre-academy", headers=who) as r:
            assert r.status == 200 and r.content_type == "text/csv"
            rows = list(csv.DictReader(io.StringIO(await r.text())))
        assert [r["id"] for r in rows] == [f["id"] for f in listed["findings"]]
        assert rows[0]["app"] == "cadre-academy"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", rows[0]["first_seen"])
        body = await get_json(d, "/api/v1/findings.json?app=cadre-academy", who)
        assert [f["id"] for f in body["findings"]] == [r["id"] for r in rows]
        assert all(f["evidence_redacted"] for f in body["findings"])
        body = await get_json(d, "/api/v1/findings.csv?limit=3", who, status=400)
        assert body["error"] == "unknown query parameter 'limit'"


async def test_apps_endpoint_gives_every_app_its_band_and_score_breakdown(fleet: Any) -> None:
    d, _, creds, _ = fleet
    body = await get_json(d, "/api/v1/apps", basic(creds, "viewer"))
    apps = {a["app"]: a for a in body["apps"]}
    assert set(apps) == set(APPS)
    for a in apps.values():
        assert a["band"] is not None and set(a["signals"]) == set(SIGNALS)
        for s in a["signals"].values():
            assert set(s) == {"value", "threshold", "points", "weight", "rule"}
    flagged = [a for a in apps.values() if a["band"] in ("candidate", "review")]
    assert flagged
    for a in flagged:
        f = await get_json(d, f"/api/v1/findings/{a['finding_id']}", basic(creds, "viewer"))
        assert f["evidence"]["signals"] == a["signals"]
    body = await get_json(d, "/api/v1/apps?band=keep&band=candidate", basic(creds, "viewer"))
    assert {a["band"] for a in body["apps"]} <= {"keep", "candidate"}
    await get_json(d, "/api/v1/apps?band=zombie", basic(creds, "viewer"), status=400)


# -- pages: session login, CSRF -----------------------------------------------------------


async def login(
    s: aiohttp.ClientSession, d: Daemon, who: str, pw: str, next_url: str = "/findings"
) -> aiohttp.ClientResponse:
    """Log in as a browser does: get the form (its CSRF cookie and token), post it back."""
    async with s.get(base(d) + "/login") as r:
        token = re.search(r"name='csrf' value='([^']+)'", await r.text())
    assert token, "the login form carries a CSRF token"
    async with s.post(
        base(d) + "/login",
        data={"username": who, "password": pw, "next": next_url, "csrf": token.group(1)},
        allow_redirects=False,
    ) as r:
        return r


async def test_login_form_sets_a_strict_session_cookie_and_forms_need_the_csrf_token(
    fleet: Any,
) -> None:
    d, _, creds, _ = fleet
    f = await one_of(d, creds, "study_inflation")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        r = await login(s, d, "inspector", "wrong")
        assert r.status == 401
        r = await login(s, d, "inspector", creds["inspector"])
        assert r.status == 303 and r.headers["Location"] == "/findings"
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with s.get(base(d) + f"/findings/{f['id']}") as page:
            assert page.status == 200
            text = await page.text()
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
        token = re.search(r"name='csrf' value='([^']+)'", text)
        assert token
        url = base(d) + f"/findings/{f['id']}/status"
        async with s.post(url, data={"status": "confirmed"}, allow_redirects=False) as r:
            assert r.status == 403
        async with s.post(
            url, data={"status": "confirmed", "csrf": "forged"}, allow_redirects=False
        ) as r:
            assert r.status == 403
        async with s.post(
            url,
            data={"status": "confirmed", "reason": "ok", "csrf": token.group(1)},
            allow_redirects=False,
        ) as r:
            assert r.status == 303
        # the JSON API with a session cookie needs the token in a header
        api = base(d) + f"/api/v1/findings/{f['id']}/status"
        async with s.post(api, json={"status": "open"}) as r:
            assert r.status == 403
        async with s.post(
            api, json={"status": "open"}, headers={"X-CSRF-Token": token.group(1)}
        ) as r:
            assert r.status == 200
        async with s.post(
            base(d) + "/logout", data={"csrf": token.group(1)}, allow_redirects=False
        ) as r:
            assert r.status == 303
        async with s.get(base(d) + "/findings", allow_redirects=False) as r:
            assert r.status == 303  # logged out
    # a viewer's session has a CSRF token too, but not the role to decide
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await login(s, d, "viewer", creds["viewer"])
        async with s.get(base(d) + f"/findings/{f['id']}") as page:
            text = await page.text()
        assert "Record decision" not in text
        token = re.search(r"name='csrf' value='([^']+)'", text)  # the logout form's
        assert token
        async with s.post(
            url,
            data={"status": "dismissed", "reason": "x", "csrf": token.group(1)},
            allow_redirects=False,
        ) as r:
            assert r.status == 403


async def test_pages_render_each_kind_and_escape_and_shorten(fleet: Any) -> None:
    d, _, creds, _ = fleet
    listing = await get_json(d, "/api/v1/findings?limit=500", basic(creds, "inspector"))
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        await login(s, d, "inspector", creds["inspector"])
        for f in listing["findings"]:
            async with s.get(base(d) + f"/findings/{f['id']}") as r:
                assert r.status == 200, f["kind"]
                text = await r.text()
            if f["kind"] == "bulk_checkin":
                assert text.count("<svg") == 2
                full = await get_json(d, f"/api/v1/findings/{f['id']}", basic(creds, "inspector"))
                acc = full["evidence"]["accounts"][0]
                assert f">{acc[:8]}<" in text and f">{acc}<" not in text
            if f["kind"] in ("shutdown_candidate", "needs_review"):
                assert "Shutdown score breakdown" in text and "<svg" in text
                for sig in SIGNALS:
                    assert f"<td>{sig}</td>" in text
                assert "Sufficient conditions met" in text  # the official account's shell
            if f["kind"] == "duplicate_reporting":
                assert "Reports filed on both apps" in text
                assert f"href='/findings?app={f['apps'][1]}'" in text  # the other app, linked
                assert "one finding for all of them" in text
            if f["kind"] == "consolidation":
                assert "One table: apps to consolidate" in text
                assert "<strong>keep</strong>" in text
        async with s.get(base(d) + "/findings?app=<script>x</script>") as r:
            assert r.status == 200 and "<script>" not in await r.text()
        async with s.get(base(d) + "/findings?since=<script>x</script>") as r:
            text = await r.text()
            assert r.status == 400
            assert "<script>" not in text and "&lt;script&gt;x" in text
        async with s.get(base(d) + "/apps") as r:
            assert r.status == 200
            assert "Shutdown candidates" in (await r.text())


async def test_evidence_events_page_through_in_time_order(fleet: Any) -> None:
    d, _, creds, _ = fleet
    insp = basic(creds, "inspector")
    ring = await one_of(d, creds, "bulk_checkin")
    path = f"/api/v1/findings/{ring['id']}"
    whole = await get_json(d, path, insp)
    total = whole["events_total"]
    assert total == len(whole["events"]) >= 8 and whole["events_offset"] == 0
    walked: list[dict[str, Any]] = []
    for offset in range(0, total, 3):
        page = await get_json(d, f"{path}?events_offset={offset}&events_limit=3", insp)
        assert (page["events_total"], page["events_offset"]) == (total, offset)
        walked += page["events"]
    assert walked == whole["events"]
    assert [e["ts"] for e in walked] == sorted(e["ts"] for e in walked)
    past = await get_json(d, f"{path}?events_offset={total}", insp)
    assert past["events"] == [] and past["events_total"] == total
    for query, error in (
        ("events_limit=0", "events_limit must be between 1 and 500"),
        ("events_limit=501", "events_limit must be between 1 and 500"),
        ("events_offset=-1", "events_offset must be between 0 and 1000000000"),
        ("events_offset=x", "events_offset must be an integer"),
        ("limit=3", "unknown query parameter 'limit'"),
    ):
        body = await get_json(d, f"{path}?{query}", insp, status=400)
        assert body["error"] == error


async def page_text(s: aiohttp.ClientSession, d: Daemon, path: str, status: int = 200) -> str:
    async with s.get(base(d) + path) as r:
        text = await r.text()
        assert r.status == status, (path, text[:500])
        return text


async def test_finding_page_pages_its_evidence_events_with_the_app_of_each(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tapwatch.exporters.pages import finding as finding_page

    d, _, creds, _ = fleet
    insp = basic(creds, "inspector")
    listing = await get_json(d, "/api/v1/findings?limit=500", insp)
    most: dict[str, Any] = {"events_total": 0}
    for f in listing["findings"]:
        full = await get_json(d, f"/api/v1/findings/{f['id']}", insp)
        if full["events_total"] > most["events_total"]:
            most = full
    total = most["events_total"]
    assert total > 100  # device farms and ritual usage name hundreds
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await login(s, d, "inspector", creds["inspector"])
        fid = most["id"]
        first = await page_text(s, d, f"/findings/{fid}")
        per = finding_page.EVENTS_PER_PAGE
        assert f"1-{per} of {total}, in time order" in first
        assert len(re.findall(r"<span class='mono'>[^<]+</span></td></tr>", first)) == per
        assert f"?events_offset={per}#events' rel='next'>Next</a>" in first
        assert "rel='prev'" not in first
        last = (total - 1) // per * per
        assert f"?events_offset={last}#events'>Last</a>" in first
        second = await page_text(s, d, f"/findings/{fid}?events_offset={per}")
        assert f"{per + 1}-{2 * per} of {total}" in second
        assert "rel='prev'>Previous</a>" in second
        tail = await page_text(s, d, f"/findings/{fid}?events_offset={last}")
        assert f"{last + 1}-{total} of {total}" in tail and "rel='next'" not in tail
        bad = await page_text(s, d, f"/findings/{fid}?events_offset=-4", status=400)
        assert "events_offset must be between" in bad
        bad = await page_text(s, d, f"/findings/{fid}?page=2", status=400)
        assert "unknown query parameter &#x27;page&#x27;" in bad

        # smaller pages: every page's rows together are every event, in order, each with
        # the app it was filed on (duplicate reporting names other apps' submissions)
        monkeypatch.setattr(finding_page, "EVENTS_PER_PAGE", 1)
        dup = await one_of(d, creds, "duplicate_reporting")
        full = await get_json(d, f"/api/v1/findings/{dup['id']}", insp)
        assert {e["app"] for e in full["events"]} - {dup["app"]}
        rows = []
        for offset, event in enumerate(full["events"]):
            text = await page_text(s, d, f"/findings/{dup['id']}?events_offset={offset}")
            assert "<th scope='col'>App</th>" in text
            row = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td>.*?<span class='mono'>"
                             r"([^<]+)</span></td></tr>", text)
            assert row == [(event["app"], event["id"])]
            rows += row
        assert len(rows) == full["events_total"] >= 2


async def test_findings_that_name_no_event_say_what_they_rest_on(fleet: Any) -> None:
    d, _, creds, _ = fleet
    shell = await one_of(d, creds, "shutdown_candidate")
    full = await get_json(d, f"/api/v1/findings/{shell['id']}", basic(creds, "inspector"))
    assert (full["events_source"], full["events"], full["events_total"]) == (
        "not_event_based", [], 0
    )
    ring = await one_of(d, creds, "bulk_checkin")
    listing = await get_json(d, "/api/v1/findings?kind=banned_feature", basic(creds, "viewer"))
    declared = [f for f in listing["findings"] if "events" not in f["summary"]]
    assert declared  # a feature the registry declares, not seen in events
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await login(s, d, "inspector", creds["inspector"])
        text = await page_text(s, d, f"/findings/{shell['id']}")
        assert "rests on the daily rollups of the app&#x27;s activity" in text
        assert "no longer stored" not in text and "No evidence events" not in text
        text = await page_text(s, d, f"/findings/{declared[0]['id']}")
        assert "rests on the features declared in the app&#x27;s registry entry" in text
        assert "Declared in the registry as" in text
        # a reason that is a measurement, not a policy rule, says so in the rule column;
        # the app's band stands beside the finding, with what each one judges
        text = await page_text(s, d, f"/findings/{ring['id']}")
        apps = await get_json(d, "/api/v1/apps", basic(creds, "inspector"))
        band = next(a["band"] for a in apps["apps"] if a["app"] == ring["app"])
        assert f"<dt>App&#x27;s shutdown band</dt><dd><a href='/apps'>{band}</a>" in text
        assert "the band judges whether the app should exist" in text
        assert "<code>stands_alone</code>" in text
        assert "a measurement that supports the others (no rule of its own)" in text


async def test_apps_page_shows_each_apps_open_findings_beside_its_band(fleet: Any) -> None:
    d, _, creds, _ = fleet
    viewer_auth = basic(creds, "viewer")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await login(s, d, "viewer", creds["viewer"])
        # The daemon's detect loop keeps running: a pass between the listing and the page
        # (one crossing midnight, say) may change an app's findings. Compare the listing
        # with a page that was the same just before and just after it.
        for _ in range(5):
            before = await page_text(s, d, "/apps")
            listing = await get_json(
                d, "/api/v1/findings?status=open&status=confirmed&limit=500", viewer_auth
            )
            apps = await get_json(d, "/api/v1/apps", viewer_auth)
            text = await page_text(s, d, "/apps")
            if text == before:
                break
        else:
            raise AssertionError("the apps page changed around every listing")
    assert "The band answers one question: should the app exist?" in text
    kept_with_critical = 0
    for a in apps["apps"]:
        mine = [f for f in listing["findings"] if f["app"] == a["app"]]
        if not mine:
            continue
        critical = sum(f["severity"] == "critical" for f in mine)
        warning = sum(f["severity"] == "warning" for f in mine)
        worst = ", ".join(
            f"{n} {sev}" for n, sev in ((critical, "critical"), (warning, "warning")) if n
        )
        label = f"{len(mine)} ({worst})" if worst else str(len(mine))
        assert f"status=open&amp;status=confirmed'>{label}</a>" in text, a["app"]
        kept_with_critical += a["band"] == "keep" and critical > 0
    assert kept_with_critical  # the case the note is for: kept, with critical findings


# -- no raw identifier leaves the daemon ------------------------------------------------------


async def test_no_raw_ids_in_api_responses_logs_or_store(
    fleet: Any, caplog: pytest.LogCaptureFixture
) -> None:
    d, sim, creds, tmp = fleet
    caplog.set_level(logging.INFO)
    raw: set[str] = set()
    for app in APPS:
        for ev in list(sim.iter_events(app))[:3000]:
            raw.add(ev["account"])
            for k in ("device", "network"):
                if ev.get(k):
                    raw.add(ev[k])
    for p in sim.ground_truth()["apps"]["risk-point-checkin"]["planted"]:
        raw.update(p["accounts"])
    insp = basic(creds, "inspector")
    texts = []
    listing = await get_json(d, "/api/v1/findings?limit=500", insp)
    texts.append(json.dumps(listing))
    for f in listing["findings"]:
        texts.append(json.dumps(await get_json(d, f"/api/v1/findings/{f['id']}", insp)))
    ring = await one_of(d, creds, "bulk_checkin")
    await post_status(d, insp, ring["id"], {"status": "confirmed", "reason": "hold"}, 200)
    texts.append(json.dumps(await get_json(d, f"/api/v1/findings/{ring['id']}", insp)))
    texts.append(json.dumps(await get_json(d, "/api/v1/findings.json", insp)))
    texts.append(json.dumps(await get_json(d, "/api/v1/apps", insp)))
    await post_status(d, insp, ring["id"], {"status": "open"}, 200)
    blob = "\n".join(texts)
    store = b"".join(p.read_bytes() for p in tmp.glob("store.sqlite*"))
    assert len(raw) > 100
    for r in raw:
        assert r not in blob, r
        assert r not in caplog.text, r
        assert r.encode() not in store, r


# -- /metrics behind a web config ---------------------------------------------------------


async def test_web_config_guards_metrics_and_is_reread_when_it_changes(tmp_path: Path) -> None:
    web = tmp_path / "web.yaml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prom": hash_password("s3cret", 4)}}))
    async with (
        simulated_daemon(tmp_path, apps=("deadline-reports",), history_days=3, web_config=web) as (
            d,
            _,
            creds,
        ),
        aiohttp.ClientSession() as s,
    ):
        async with s.get(base(d) + "/metrics") as r:
            assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
        async with s.get(base(d) + "/metrics", headers=hdr("prom", "s3cret")) as r:
            assert r.status == 200
        # the web config's users are not inspectors, and inspectors do not scrape
        async with s.get(base(d) + "/api/v1/findings", headers=hdr("prom", "s3cret")) as r:
            assert r.status == 401
        async with s.get(base(d) + "/metrics", headers=basic(creds, "inspector")) as r:
            assert r.status == 401
        web.write_text(yaml.safe_dump({"basic_auth_users": {"prom2": hash_password("other", 4)}}))
        await asyncio.sleep(1.1)  # the file is checked at most once a second
        async with s.get(base(d) + "/metrics", headers=hdr("prom", "s3cret")) as r:
            assert r.status == 401
        async with s.get(base(d) + "/metrics", headers=hdr("prom2", "other")) as r:
            assert r.status == 200
        web.write_text("basic_auth_users: [broken")  # a broken change keeps the last good
        await asyncio.sleep(1.1)
        async with s.get(base(d) + "/metrics", headers=hdr("prom2", "other")) as r:
            assert r.status == 200
