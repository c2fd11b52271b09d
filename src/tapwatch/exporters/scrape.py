"""GET /metrics: the last render, in the format and encoding the scraper asks for.

Prometheus asks for OpenMetrics first (`Accept: application/openmetrics-text;...`), curl
and most tools for anything; both get the same samples. With `Accept-Encoding: gzip` the
body is gzipped (a 2,000-app page is megabytes of repetitive text). Each form of a render
is built once, on the first request that wants it, and kept until the next render:
compression runs in a thread, off the event loop, and concurrent scrapes share it.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

from aiohttp import web

from tapwatch.exporters.exposition import CONTENT_TYPES, OPENMETRICS, TEXT, Exposition

#: gzip level: 6 is zlib's default; on /metrics text it gives ~95 % of level 9's saving
GZIP_LEVEL = 6


class MetricsPage:
    """One render of /metrics in every form a scraper may ask for, each built once."""

    def __init__(self, exposition: Exposition | None = None) -> None:
        self._x = exposition or Exposition()
        #: the 0.0.4 text, built at once: what most readers (and the tests) want
        self.text = self._x.render(TEXT)
        self._forms: dict[tuple[str, bool], asyncio.Future[bytes]] = {}

    async def body(self, fmt: str, gzipped: bool) -> bytes:
        """The page in `fmt` (TEXT or OPENMETRICS), gzipped or not."""
        key = (fmt, gzipped)
        fut = self._forms.get(key)
        if fut is None:
            fut = self._forms[key] = asyncio.ensure_future(self._build(fmt, gzipped))
        return await asyncio.shield(fut)

    async def _build(self, fmt: str, gzipped: bool) -> bytes:
        raw = self.text if fmt == TEXT else self._x.render(fmt)
        if not gzipped:
            return raw
        return await asyncio.to_thread(gzip.compress, raw, GZIP_LEVEL, mtime=0)


def _media_ranges(header: str | None) -> list[tuple[str, dict[str, str], float]]:
    """(type, parameters, q) of each entry of an Accept or Accept-Encoding header."""
    out = []
    for item in (header or "").split(","):
        name, *params = (p.strip() for p in item.split(";"))
        if not name:
            continue
        args = {}
        for p in params:
            k, _, v = p.partition("=")
            args[k.strip().lower()] = v.strip().strip('"')
        try:
            q = float(args.pop("q", "1"))
        except ValueError:
            q = 0.0  # a malformed weight counts as "not acceptable"
        out.append((name.lower(), args, q))
    return out


def negotiate_format(accept: str | None) -> str:
    """OPENMETRICS when the client prefers it to the text format, else TEXT."""
    om = text = 0.0
    for name, args, q in _media_ranges(accept):
        if name == "application/openmetrics-text" and args.get("version", "1.0.0") in (
            "1.0.0",
            "0.0.1",
        ):
            om = max(om, q)
        elif name in ("text/plain", "text/*", "*/*"):
            text = max(text, q)
    return OPENMETRICS if om > 0 and om >= text else TEXT


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether the client takes a gzip body (listed, or `*`, with a weight above 0)."""
    weights = {name: q for name, _, q in _media_ranges(accept_encoding)}
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def metrics_handler(
    current: Callable[[], MetricsPage],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The /metrics handler, serving `current()`: the page of the daemon's last render."""

    async def metrics(request: web.Request) -> web.Response:
        fmt = negotiate_format(request.headers.get("Accept"))
        gzipped = accepts_gzip(request.headers.get("Accept-Encoding"))
        body = await current().body(fmt, gzipped)
        headers = {"Content-Type": CONTENT_TYPES[fmt], "Vary": "Accept, Accept-Encoding"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    return metrics
