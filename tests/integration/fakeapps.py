"""A small, fully controlled fleet of usage-API apps for the daemon's robustness tests.

Each app serves a fixed list of events (ids `{app}-{i}`) in pages, and misbehaves in the
way its mode says. The simulator has richer behaviour; this server exists so the tests can
count exactly what should be ingested.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web

MODES = (
    "good",
    "down",
    "slow",
    "http_500",
    "garbage",
    "huge",
    "wrong_content_type",
    "cursor_backwards",
    "duplicate_ids",
    "skewed_clock",
    "auth",
    "bad_events",
    "rate_limited",
)


@dataclass
class FakeApp:
    id: str
    mode: str = "good"
    n_events: int = 50
    token: str | None = None
    start_ts: float = 0.0  # default: the events end a minute ago
    hits: int = 0
    raw_paths: list[str] = field(default_factory=list)  # path and query as received
    raw_accounts: list[str] = field(default_factory=list)
    _cache: list[dict] | None = None

    def __post_init__(self) -> None:
        if not self.start_ts:
            self.start_ts = time.time() - self.n_events * 10 - 60

    def events(self) -> list[dict]:
        if self._cache is not None:
            return self._cache
        out = []
        skew = 7200 if self.mode == "skewed_clock" else 0
        for i in range(self.n_events):
            acct = f"raw-account-{self.id}-{i % 7}"
            ev = {
                "id": f"{self.id}-{i}",
                "ts": self.start_ts + i * 10 + skew,
                "type": ["checkin", "read", "form_submit", "action"][i % 4],
                "account": acct,
                "device": f"raw-device-{i % 3}",
                "lat": 30.27,
                "lon": 120.15,
            }
            if self.mode == "bad_events" and i % 5 == 0:
                ev = {"id": f"{self.id}-{i}", "ts": "yesterday", "type": "checkin",
                      "account": acct}
            out.append(ev)
        self.raw_accounts = sorted({e["account"] for e in out})
        self._cache = out
        return out


class FakeFleet:
    def __init__(self, apps: list[FakeApp], page_size: int = 20) -> None:
        self.apps = {a.id: a for a in apps}
        self.page_size = page_size
        self.runner: web.AppRunner | None = None
        self.port = 0

    def url(self, app_id: str) -> str:
        if self.apps[app_id].mode == "down":
            return "http://127.0.0.1:1/apps/" + app_id  # nothing listens on port 1
        return f"http://127.0.0.1:{self.port}/apps/{app_id}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/apps/{app}/v1/usage", self.usage)
        app.router.add_get("/apps/{app}/v1/events", self.events)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def _common(self, request: web.Request) -> FakeApp | web.StreamResponse:
        a = self.apps[request.match_info["app"]]
        a.hits += 1
        a.raw_paths.append(request.raw_path)
        if a.token and request.headers.get("Authorization") != f"Bearer {a.token}":
            return web.json_response({"error": "unauthorised"}, status=401)
        if a.mode == "auth":
            return web.json_response({"error": "unauthorised"}, status=401)
        if a.mode == "slow":
            await asyncio.sleep(5)
        if a.mode == "http_500":
            return web.Response(status=500, text="boom")
        if a.mode == "rate_limited":
            return web.Response(status=429, headers={"Retry-After": "3"})
        if a.mode == "garbage":
            return web.Response(body=b"\x00{not json", content_type="application/json")
        if a.mode == "wrong_content_type":
            return web.Response(text="<html>login</html>", content_type="text/html")
        if a.mode == "huge":
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            chunk = b" " * (1 << 20)
            try:
                for _ in range(50):  # 50 MB, streamed without a length
                    await resp.write(chunk)
            except (ConnectionResetError, RuntimeError):
                pass
            return resp
        return a

    async def usage(self, request: web.Request) -> web.StreamResponse:
        a = await self._common(request)
        if not isinstance(a, FakeApp):
            return a
        return web.json_response(
            {
                "registered_accounts": 100,
                "active_accounts_1d": 5,
                "active_accounts_7d": 7,
                "active_accounts_30d": 7,
                "last_release_at": "2026-01-01T00:00:00+08:00",
                "features": ["checkin"],
            }
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        a = await self._common(request)
        if not isinstance(a, FakeApp):
            return a
        evs = a.events()
        pos = int(request.query.get("cursor") or 0)
        page = evs[pos : pos + self.page_size]
        nxt = pos + len(page)
        if a.mode == "cursor_backwards" and a.hits % 3 == 0:
            nxt = max(0, pos - self.page_size)  # goes back: re-serves events
        if a.mode == "duplicate_ids":
            page = page + page[:5]  # the same ids twice on one page
        body = {"events": page, "next_cursor": str(nxt), "has_more": nxt < len(evs)}
        return web.Response(body=json.dumps(body), content_type="application/json")
