"""The simulator's HTTP server: usage API v1 for every simulated app, plus admin routes.

Routes (see docs/usage-api.md):
  GET  /apps/{app}/v1/usage
  GET  /apps/{app}/v1/events?cursor=C&limit=N
  POST /admin/plant          {"app": ID, "scenario": "bulk_checkin", "accounts": 12}
  GET  /admin/ground-truth
  GET  /admin/apps           the app ids and their base URLs
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import yaml
from aiohttp import web

from tapwatch.simulator.faults import (
    GARBAGE_BODY,
    HTML_BODY,
    RATE_LIMIT_S,
    FaultMode,
)
from tapwatch.simulator.fleet import BadCursor, Fleet, Position, SimClock, SimulatorOptions
from tapwatch.simulator.scenarios import AppSpec, day_of_date, local_day

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
_JSON = "application/json"
_enc = msgspec.json.Encoder()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = _enc.encode({"error": message})
    return web.Response(status=status, body=body, content_type=_JSON, headers=headers)


class Simulator:
    """A fleet of simulated government apps served over HTTP (usage API v1)."""

    def __init__(self, opts: SimulatorOptions | None = None, clock: SimClock | None = None) -> None:
        self.opts = opts or SimulatorOptions()
        self.fleet = Fleet(self.opts, clock)
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._dead_socket: socket.socket | None = None
        self._dead_port: int | None = None
        self._last_request: dict[str, float] = {}
        self._pages_served: dict[str, int] = {}

    # -- Python API ----------------------------------------------------------------------
    @property
    def apps(self) -> list[AppSpec]:
        """Specs of the simulated apps (id, registry fields, behaviour, expected band)."""
        return self.fleet.apps

    def now(self) -> float:
        """The simulated clock (epoch seconds)."""
        return self.fleet.clock.now()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start serving; returns the bound port."""
        self.host = host
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/apps/{app}/v1/usage", self._usage)
        app.router.add_get("/apps/{app}/v1/events", self._events)
        app.router.add_post("/admin/plant", self._plant)
        app.router.add_get("/admin/ground-truth", self._ground_truth)
        app.router.add_get("/admin/apps", self._list_apps)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if any(a.fault == FaultMode.down.value for a in self.apps):
            # A bound socket that never listens: connecting to it is refused, and holding it
            # keeps anyone else from taking the port.
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            self._dead_socket = s
            self._dead_port = s.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop serving and release the ports."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._dead_socket is not None:
            self._dead_socket.close()
            self._dead_socket = None

    def base_url(self, app_id: str) -> str:
        """`http://HOST:PORT/apps/{app_id}` (a refusing port for apps in fault mode down)."""
        if self.port is None:
            raise RuntimeError("the simulator is not started")
        spec = self.fleet.by_id[app_id]
        port = self._dead_port if spec.fault == FaultMode.down.value else self.port
        return f"http://{self.host}:{port}/apps/{spec.id}"

    def ground_truth(self) -> dict[str, Any]:
        """What was planted in each app up to the simulated clock, and its expected band."""
        return self.fleet.ground_truth()

    def write_ground_truth(self, path: str | os.PathLike[str]) -> None:
        """Write the ground truth JSON (atomically)."""
        _atomic_write(Path(path), json.dumps(self.ground_truth(), indent=1).encode())

    def write_registry(
        self, path: str | os.PathLike[str], token_file: str | os.PathLike[str] | None = None
    ) -> None:
        """Write a YAML app registry the daemon can load (`apps:` list)."""
        tf = Path(token_file).resolve() if token_file is not None else None
        data = self.fleet.registry(self.base_url, tf)
        text = "# Written by `tapwatch simulate`: the simulated fleet.\n" + yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, width=100
        )
        _atomic_write(Path(path), text.encode())

    def events_for_day(self, app_id: str, day: int | date) -> list[dict]:
        """One app's events on one local day (a date, or a day number since 1970-01-01 on
        the UTC+8 clock), up to the simulated clock, as served without faults."""
        if isinstance(day, date):
            day = day_of_date(day)
        return self.fleet.events_for_day(app_id, day)

    def iter_events(self, app_id: str) -> Iterator[dict]:
        """Every event of the app's history up to the simulated clock (for file drops)."""
        return self.fleet.iter_events(app_id)

    def today(self) -> int:
        """The local day number of the simulated clock."""
        return local_day(self.now())

    def plant(
        self, app_id: str, scenario: str = "bulk_checkin", accounts: int = 12
    ) -> dict[str, Any]:
        """Plant a pattern now (as POST /admin/plant); returns its ground truth entry."""
        p = self.fleet.plant(app_id, scenario, accounts, self.now())
        return {
            "app": app_id,
            "kind": p.kind,
            "event_ids": p.event_ids,
            "accounts": p.accounts,
            "window": [p.window[0], p.window[1]],
            "detail": p.detail,
        }

    # -- HTTP handlers -------------------------------------------------------------------
    def _spec(self, request: web.Request) -> AppSpec:
        spec = self.fleet.by_id.get(request.match_info["app"])
        if spec is None:
            raise web.HTTPNotFound(text='{"error": "no such app"}', content_type=_JSON)
        return spec

    def _authorised(self, request: web.Request) -> bool:
        if self.opts.token is None:
            return True
        got = request.headers.get("Authorization", "")
        return hmac.compare_digest(got.encode(), f"Bearer {self.opts.token}".encode())

    async def _transport_fault(
        self, request: web.Request, spec: AppSpec
    ) -> web.StreamResponse | None:
        """Apply the app's transport fault, if any; None means serve normally."""
        mode = FaultMode(spec.fault) if spec.fault else None
        if mode is FaultMode.down:
            # Reached through the main port anyway: drop the connection without an answer.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)  # never reaches the client
        if mode is FaultMode.slow:
            await asyncio.sleep(self.opts.slow_delay_s)
        if mode is FaultMode.auth:
            return _error(401, "unauthorised", {"WWW-Authenticate": 'Bearer realm="app"'})
        if not self._authorised(request):
            return _error(
                401, "missing or wrong bearer token", {"WWW-Authenticate": 'Bearer realm="app"'}
            )
        if mode is FaultMode.rate_limited:
            t = time.monotonic()
            last = self._last_request.get(spec.id)
            if last is not None and t - last < RATE_LIMIT_S:
                return _error(429, "too many requests", {"Retry-After": "2"})
            self._last_request[spec.id] = t
        if mode is FaultMode.http_500:
            return _error(500, "internal server error")
        if mode is FaultMode.garbage:
            return web.Response(body=GARBAGE_BODY, content_type=_JSON)
        if mode is FaultMode.wrong_content_type:
            return web.Response(body=HTML_BODY, content_type="text/html")
        if mode is FaultMode.huge:
            return await self._huge(request)
        return None

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": _JSON})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        item = b'{"id":"same","ts":0,"type":"read","account":"a"},'
        head, tail = b'{"events":[', b'{"id":"last","ts":0,"type":"read","account":"a"}]}'
        chunk = item * (65536 // len(item))
        total = self.opts.huge_bytes - len(head) - len(tail)
        with contextlib.suppress(ConnectionError):
            await resp.write(head)
            sent = 0
            while sent + len(chunk) <= total:
                await resp.write(chunk)
                sent += len(chunk)
            rest = total - sent
            # Whitespace pads the body to exactly huge_bytes and keeps it valid JSON.
            await resp.write(item * (rest // len(item)) + b" " * (rest % len(item)) + tail)
            await resp.write_eof()
        return resp

    async def _usage(self, request: web.Request) -> web.StreamResponse:
        spec = self._spec(request)
        fault = await self._transport_fault(request, spec)
        if fault is not None:
            return fault
        body = _enc.encode(self.fleet.usage(spec.id, self.now()))
        return web.Response(body=body, content_type=_JSON)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        spec = self._spec(request)
        fault = await self._transport_fault(request, spec)
        if fault is not None:
            return fault
        q = request.query
        try:
            limit = int(q.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return _error(400, "limit must be an integer")
        if limit < 1:
            return _error(400, "limit must be at least 1")
        limit = min(limit, MAX_LIMIT)
        now = self.now()
        try:
            pos = self.fleet.decode_cursor(spec.id, q.get("cursor"), now)
        except BadCursor as e:
            return _error(400, str(e))
        body = self.render_page(spec, pos, limit, now)
        return web.Response(body=body, content_type=_JSON)

    def render_page(self, spec: AppSpec, pos: Position, limit: int, now: float) -> bytes:
        """The body of one events page, paging faults applied."""
        mode = FaultMode(spec.fault) if spec.fault else None
        start = pos
        if mode is FaultMode.duplicate_ids and pos.off > 0:
            # Overlap: re-serve the last quarter page before the cursor.
            start = Position(pos.day, pos.off - min(pos.off, limit // 4), pos.live)
        res = self.fleet.page(spec.id, start, limit, now)
        nxt = res.next
        if mode is FaultMode.cursor_backwards and (pos.day, pos.off) != (self.fleet.first_day, 0):
            n = self._pages_served[spec.id] = self._pages_served.get(spec.id, 0) + 1
            if n % 3 == 0:
                nxt = self.fleet.back(spec.id, pos, max(1, limit // 2))
        cursor = self.fleet.encode_cursor(spec.id, nxt).encode()
        return b"".join(
            (
                b'{"events":[',
                b",".join(res.bodies),
                b'],"next_cursor":"',
                cursor,
                b'","has_more":',
                b"true" if res.has_more else b"false",
                b"}",
            )
        )

    async def _plant(self, request: web.Request) -> web.Response:
        try:
            req = await request.json()
            app_id = req["app"]
            scenario = req.get("scenario", "bulk_checkin")
            accounts = int(req.get("accounts", 12))
        except (ValueError, KeyError, TypeError):
            return _error(400, 'expected {"app": ID, "scenario": "bulk_checkin", "accounts": N}')
        try:
            out = self.plant(app_id, scenario, accounts)
        except KeyError:
            return _error(404, f"no such app {app_id!r}")
        except ValueError as e:
            return _error(400, str(e))
        return web.Response(body=_enc.encode(out), content_type=_JSON)

    async def _ground_truth(self, request: web.Request) -> web.Response:
        # The first call generates the whole history (seconds at full scale): off the loop.
        gt = await asyncio.to_thread(self.ground_truth)
        return web.Response(body=_enc.encode(gt), content_type=_JSON)

    async def _list_apps(self, request: web.Request) -> web.Response:
        apps = [
            {
                "id": a.id,
                "url": self.base_url(a.id),
                "fault": a.fault,
                "expected_band": a.expected_band,
            }
            for a in self.apps
        ]
        return web.Response(body=_enc.encode({"apps": apps}), content_type=_JSON)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
