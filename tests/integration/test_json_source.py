"""`kind: json`: a vendor API connected by configuration alone. A fake vendor serves
check-ins in its own shape (nested fields, ms timestamps, its own type names, GCJ-02
micro-degrees, no ids), paged by cursor, offset or date window."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tapwatch.config import JsonSourceConfig
from tapwatch.datum import gcj02_to_wgs84, wgs84_to_gcj02
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import ErrorReason, SourceError
from tapwatch.sources.json_api import JsonApiSource
from tests.integration.platform_util import KEY, poll

POINT = (30.2741, 120.1551)


class Vendor:
    """A vendor API: 25 records, served by cursor, offset or time window."""

    def __init__(self, now: float) -> None:
        g_lat, g_lon = wgs84_to_gcj02(*POINT)
        self.records = [
            {
                "user": {"id": 1000 + k, "dept": "township-3"},
                "at": int((now - 3600 + k * 60) * 1000),
                "kind": "SIGN_IN" if k % 5 else "VIEW",
                "geo": {"lat": round(g_lat * 1e6), "lng": round(g_lon * 1e6)},
                "phone": {"imei": f"imei-{k % 4}"},
            }
            for k in range(25)
        ]
        self.requests: list[dict[str, Any]] = []
        self.token = "vendor-api-token-123"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cursor", self.cursor)
        app.router.add_get("/offset", self.offset)
        app.router.add_post("/window", self.window)
        return app

    def _auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPUnauthorized()

    async def cursor(self, request: web.Request) -> web.Response:
        self._auth(request)
        self.requests.append(dict(request.query))
        start = int(request.query.get("after") or 0)
        page = self.records[start : start + 10]
        nxt = str(start + len(page)) if page else None
        return web.json_response({"data": {"records": page}, "meta": {"next": nxt}})

    async def offset(self, request: web.Request) -> web.Response:
        self._auth(request)
        self.requests.append(dict(request.query))
        off, lim = int(request.query["skip"]), int(request.query["take"])
        return web.json_response({"items": self.records[off : off + lim]})

    async def window(self, request: web.Request) -> web.Response:
        self._auth(request)
        body = await request.json()
        self.requests.append(body)
        lo, hi = body["range"]["from"] * 1000, body["range"]["to"] * 1000
        rows = [r for r in self.records if lo <= r["at"] < hi]
        return web.Response(text=json.dumps({"result": rows}), content_type="text/plain")


@pytest.fixture
async def vendor(clock) -> AsyncIterator[tuple[Vendor, str]]:
    v = Vendor(clock())
    runner = web.AppRunner(v.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield v, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def config(base: str, tmp, **kw: Any) -> JsonSourceConfig:
    (tmp / "token").write_text("vendor-api-token-123\n")
    return JsonSourceConfig.model_validate({
        "kind": "json",
        "auth": {"bearer_token_file": str(tmp / "token")},
        "fields": {
            "ts": "at", "type": "kind", "account": "user.id", "unit": "user.dept",
            "device": "phone.imei", "lat": "geo.lat", "lon": "geo.lng",
        },
        "type_map": {"SIGN_IN": "checkin", "VIEW": "read"},
        "ts_unit": "ms",
        "coordinate_scale": 1e-6,
        "datum": "gcj02",
        **kw,
    })


async def test_cursor_paging_maps_every_field(vendor, session, clock, tmp_path):
    v, base = vendor
    cfg = config(base, tmp_path, url=f"{base}/cursor", items="data.records",
                 paging={"kind": "cursor", "next_cursor": "meta.next", "cursor_param": "after"})
    src = JsonApiSource(cfg)
    got = await poll(src, session, clock)
    assert [r.get("after") for r in v.requests] == [None, "10", "20", "25"]
    assert len(got.events) == 25 and len(got.ids) == 25
    e = min(got.events, key=lambda x: x.ts)
    p = Pseudonymizer(KEY)
    assert e.account == p.account("1000") and e.device == p.device("imei-0")
    assert e.unit == "township-3" and e.type.name == "read"  # VIEW -> read
    assert e.ts == pytest.approx(v.records[0]["at"] / 1000)
    w_lat, w_lon = gcj02_to_wgs84(v.records[0]["geo"]["lat"] * 1e-6,
                                  v.records[0]["geo"]["lng"] * 1e-6)
    assert e.lat == pytest.approx(w_lat, abs=1e-7) and e.lon == pytest.approx(w_lon, abs=1e-7)
    assert abs(e.lat - POINT[0]) < 1e-6 and abs(e.lon - POINT[1]) < 1e-6
    assert sum(x.type.name == "checkin" for x in got.events) == 20
    # resumes from the stored cursor; the ids are stable, so a re-read de-duplicates
    v.records.append({**v.records[3], "at": v.records[3]["at"] + 30_000})
    got = await poll(src, session, clock, got)
    assert v.requests[-2].get("after") == "25" and len(got.ids) == 26
    again = await poll(JsonApiSource(cfg), session, clock)
    assert again.ids == got.ids


async def test_offset_paging_resumes_where_the_list_ended(vendor, session, clock, tmp_path):
    v, base = vendor
    cfg = config(base, tmp_path, url=f"{base}/offset", items="items",
                 paging={"kind": "offset", "offset_param": "skip", "limit_param": "take",
                         "limit": 8})
    src = JsonApiSource(cfg)
    got = await poll(src, session, clock)
    assert [r["skip"] for r in v.requests] == ["0", "8", "16", "24"]
    assert len(got.ids) == 25
    v.records.append({**v.records[0], "at": v.records[0]["at"] + 1})
    got = await poll(src, session, clock, got)
    assert v.requests[-1]["skip"] == "25" and len(got.ids) == 26


async def test_date_windows_in_a_post_body(vendor, session, clock, tmp_path):
    v, base = vendor
    cfg = config(
        base, tmp_path, url=f"{base}/window", method="POST", items="result",
        body='{"range": {"from": ${since}, "to": ${until}}, "page": 1}',
        paging={"kind": "date_window", "from_param": None, "to_param": None,
                "time_format": "epoch_s", "window": "20m", "backfill": "2h"},
    )
    got = await poll(JsonApiSource(cfg), session, clock)
    spans = [int(r["range"]["to"]) - int(r["range"]["from"]) for r in v.requests]
    assert len(spans) == 6 and max(spans) == 1200  # 2 h in 20-minute windows
    assert all(isinstance(r["range"]["from"], int) for r in v.requests)  # JSON-encoded
    assert len(got.ids) == 25


async def test_bad_answers_are_typed_failures(vendor, session, clock, tmp_path):
    v, base = vendor
    cfg = config(base, tmp_path, url=f"{base}/offset", items="items.nope",
                 paging={"kind": "offset", "offset_param": "skip", "limit_param": "take"})
    assert len((await poll(JsonApiSource(cfg), session, clock)).events) == 0  # absent: empty
    cfg = config(base, tmp_path, url=f"{base}/offset", items="items[0]",
                 paging={"kind": "offset", "offset_param": "skip", "limit_param": "take"})
    with pytest.raises(SourceError) as e:
        await poll(JsonApiSource(cfg), session, clock)
    assert e.value.reason is ErrorReason.schema and "not a list" in e.value.detail
    v.token = "rotated"
    with pytest.raises(SourceError) as e:
        await poll(JsonApiSource(cfg), session, clock)
    assert e.value.reason is ErrorReason.auth


async def test_records_that_do_not_map_are_rejected_one_by_one(vendor, session, clock, tmp_path):
    v, base = vendor
    v.records[2]["kind"] = "SOMETHING_ELSE"
    del v.records[4]["user"]
    cfg = config(base, tmp_path, url=f"{base}/cursor", items="data.records",
                 paging={"kind": "cursor", "next_cursor": "meta.next", "cursor_param": "after"})
    got = await poll(JsonApiSource(cfg), session, clock)
    assert len(got.events) == 23
    assert got.rejected == {"unknown_event_type": 1, "missing_field": 1}
